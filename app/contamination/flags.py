"""Reviewing contamination flags (dismiss, drop the training item) and reading a run or a flag's
two sides for the pages and the API. Never commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.contamination import repository
from app.contamination.names import CHECK_JOB, CHUNK_JOB
from app.errors import Invalid, NotFound
from app.items import changes
from app.jobs import service as jobs
from app.models import (
    ContaminationFlag,
    ContaminationRun,
    EvalItem,
    Example,
    FlagStatus,
    ItemKind,
    ItemStatus,
    JobState,
    PreferencePair,
    Project,
    User,
)
from app.models.base import in_project, utcnow
from app.text.itemtext import message_text

# -- reviewing flags ---------------------------------------------------------------------------


def get_flag(db: Session, project: Project, flag_id: int) -> ContaminationFlag:
    flag = repository.get_flag(db, project.id, flag_id)
    if flag is None:
        raise NotFound(f"flag {flag_id} not found")
    return flag


def dismiss(
    db: Session, project: Project, flag_id: int, user: User, reason: str
) -> ContaminationFlag:
    """A false alarm: kept, with who said so and why (audited as a revision of the item)."""
    reason = reason.strip()
    if not reason:
        raise Invalid("field reason: say why this is not contamination")
    flag = get_flag(db, project, flag_id)
    if flag.status is not FlagStatus.open:
        raise Invalid(f"flag {flag_id} is already {flag.status.value}")
    _resolve(db, project, flag, user, FlagStatus.dismissed, reason)
    return flag


def drop_item(
    db: Session, project: Project, flag_id: int, user: User, reason: str = ""
) -> ContaminationFlag:
    """Reject the training item that holds the eval item (its history stays)."""
    flag = get_flag(db, project, flag_id)
    if flag.status is not FlagStatus.open:
        raise Invalid(f"flag {flag_id} is already {flag.status.value}")
    item_id = flag.example_id if flag.item_kind is ItemKind.example else flag.pair_id
    item: Example | PreferencePair | None = (
        db.get(Example, item_id) if flag.item_kind is ItemKind.example
        else db.get(PreferencePair, item_id)
    )  # fmt: skip
    if item is None:
        raise NotFound("the flagged item is gone")
    before_status = item.status
    if before_status is not ItemStatus.rejected:
        item.status = ItemStatus.rejected
        before = {"status": before_status.value}
        after = {"status": ItemStatus.rejected.value, "flag_id": flag.id}
        changes.record(db, project, user, flag.item_kind, item, "contamination_drop", before, after)
    _resolve(db, project, flag, user, FlagStatus.dropped, reason.strip() or "dropped from training")
    return flag


def _resolve(
    db: Session,
    project: Project,
    flag: ContaminationFlag,
    user: User,
    status: FlagStatus,
    reason: str,
) -> None:
    flag.status = status
    flag.reason = reason
    flag.resolved_by_id = user.id
    flag.resolved_at = utcnow()
    item_id = flag.example_id if flag.item_kind is ItemKind.example else flag.pair_id
    if status is FlagStatus.dismissed:
        changes.add_revision(
            db,
            project_id=project.id,
            kind=flag.item_kind,
            item_id=int(item_id),  # type: ignore[arg-type]
            version=0,
            user_id=user.id,
            action="contamination_dismiss",
            before={"flag_id": flag.id, "status": "open"},
            after={"flag_id": flag.id, "status": status.value, "reason": reason},
        )
    db.flush()


# -- runs and flags as the pages show them -----------------------------------------------------


def get_run(db: Session, project: Project, run_id: int) -> ContaminationRun:
    run = in_project(db, ContaminationRun, project.id, run_id)
    if run is None:
        raise NotFound(f"contamination run {run_id} not found")
    return run


def run_failure(db: Session, run: ContaminationRun) -> str | None:
    """Why an unfinished run will never finish: its own record, or a planning or chunk job of
    it that failed or was cancelled (after its retries)."""
    if run.failed or run.finished_at is not None:
        return run.failed
    found = jobs.jobs_with_param(
        db, run.project_id, (CHECK_JOB, CHUNK_JOB), "run_id", run.id, since=run.started_at
    )
    for job in found:
        if job.state.finished and job.state is not JobState.succeeded:
            what = "planning" if job.kind == CHECK_JOB else "chunk"
            return job.error or f"a {what} job of this check was {job.state.value}"
    return None


def training_item(
    db: Session, project: Project, flag: ContaminationFlag
) -> Example | PreferencePair:
    item: Example | PreferencePair | None = (
        in_project(db, Example, project.id, flag.example_id)
        if flag.item_kind is ItemKind.example
        else in_project(db, PreferencePair, project.id, flag.pair_id)
    )
    if item is None:
        raise NotFound(f"the item of flag {flag.id} is gone")
    return item


def training_text(item: Example | PreferencePair) -> str:
    """The item's text exactly as the check read it (``spans.train`` offsets index it)."""
    if isinstance(item, Example):
        return message_text(item.messages)
    return message_text([*item.prompt, *item.chosen, *item.rejected])


def eval_item(db: Session, flag: ContaminationFlag) -> EvalItem | None:
    return repository.get_eval_item(db, flag.eval_item_id)
