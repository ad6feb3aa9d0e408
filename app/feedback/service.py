"""Feedback rules: remembered field mappings, starting imports and pairings as jobs, turning
rated responses into preference pairs for review, and the counts the feedback page shows.
Never commits."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.errors import NotFound
from app.feedback import repository
from app.feedback.pairing import PlannedPair, Vote, plan_prompt
from app.feedback.schemas import (
    FeedbackImportOptions,
    FeedbackStats,
    FieldNames,
    PairEntry,
    PairOptions,
    PairProvenance,
    PairSummary,
)
from app.formats import RecordInvalid
from app.formats.pairs import finish_pair
from app.jobs import service as jobs
from app.models import ItemStatus, Job, PreferencePair, Project, Source, User
from app.models.base import in_project, utcnow

IMPORT_JOB = "feedback_import"
PAIR_JOB = "feedback_pair"
PAIR_STATUS = ItemStatus.submitted
"""Pairs from feedback always wait for a reviewer: feedback is noisy."""


def mapping(db: Session, project: Project) -> FieldNames:
    """The field names the project's last feedback import used."""
    return FieldNames.model_validate(repository.get_mapping(db, project.id))


def resolve_mapping(db: Session, project: Project, given: FieldNames | None) -> FieldNames:
    """The names to import with: the ones given, else the project's remembered ones."""
    return given if given is not None else mapping(db, project)


def remember_mapping(db: Session, project: Project, fields: FieldNames) -> None:
    repository.save_mapping(db, project.id, fields.renames())


def start_import(
    db: Session,
    project: Project,
    user: User,
    path: Path,
    display_name: str,
    options: FeedbackImportOptions,
) -> Job:
    """Remember the mapping and queue the import (the job is sent after the commit)."""
    remember_mapping(db, project, options.fields)
    rejects = path.with_name(path.name + ".rejects.jsonl")
    return jobs.create(
        db,
        kind=IMPORT_JOB,
        params={
            "path": str(path.resolve()),
            "display_name": display_name,
            "rejects_path": str(rejects.resolve()),
            "options": options.model_dump(mode="json"),
        },
        project_id=project.id,
        user_id=user.id,
    )


def start_pairing(db: Session, project: Project, user: User, options: PairOptions) -> Job:
    return jobs.create(
        db,
        kind=PAIR_JOB,
        params={"options": options.model_dump(mode="json")},
        project_id=project.id,
        user_id=user.id,
    )


def pair_feedback(
    db: Session, project_id: int, user_id: int | None, options: PairOptions
) -> PairSummary:
    """Make preference pairs (status submitted, source feedback) from the project's rated
    responses; pairs the project already holds are linked, not duplicated."""
    totals = {"prompts": 0, "pairable_prompts": 0, "pairs_created": 0, "pairs_existing": 0,
              "capped": 0, "conflicting_responses": 0}  # fmt: skip
    now = utcnow()
    stream = repository.stream_votes(db, project_id, options.with_context)
    planned: list[PlannedPair] = []
    # The stream is read to the end first: it holds the connection's cursor open.
    for _key, rows in groupby(stream, key=lambda row: row["key"]):
        plan = plan_prompt(
            (_vote(row) for row in rows), options.mode, options.max_per_prompt
        )  # fmt: skip
        totals["prompts"] += 1
        totals["pairable_prompts"] += plan.pairable
        totals["capped"] += plan.capped
        totals["conflicting_responses"] += plan.conflicting
        planned.extend(plan.pairs)
    made: list[tuple[PlannedPair, dict[str, Any]]] = []
    for pair in planned:
        try:
            record = finish_pair(
                pair.prompt,
                [{"role": "assistant", "content": pair.chosen}],
                [{"role": "assistant", "content": pair.rejected}],
            )
        except RecordInvalid:  # e.g. a blank response; nothing to review
            continue
        made.append(
            (
                pair,
                {
                    "prompt": record.prompt,
                    "chosen": record.chosen,
                    "rejected": record.rejected,
                    "content_hash": record.content_hash,
                },
            )
        )
    ids = repository.insert_pairs(
        db, project_id=project_id, user_id=user_id, pairs=[row for _, row in made],
        status=PAIR_STATUS.value, now=now,
    )  # fmt: skip
    links: list[dict[str, Any]] = []
    counted: set[int] = set()
    for pair, row in made:
        pair_id, created = ids[row["content_hash"]]
        if pair_id not in counted:
            counted.add(pair_id)
            totals["pairs_created" if created else "pairs_existing"] += 1
        for chosen, entries in ((True, pair.chosen_entries), (False, pair.rejected_entries)):
            links.extend({"project_id": project_id, "pair_id": pair_id, "entry_id": entry,
                          "chosen": chosen} for entry in entries)  # fmt: skip
    repository.link(db, links)
    counts = repository.label_counts(db, project_id)
    unpaired = counts["entries"] - repository.paired_entries(db, project_id)
    return PairSummary(**totals, unpaired_entries=unpaired)


def _vote(row: dict[str, Any]) -> Vote:
    return Vote(row["id"], row["response_key"], row["response"], row["prompt"], row["label"],
                row["score"])  # fmt: skip


def stats(db: Session, project: Project) -> FeedbackStats:
    counts = repository.label_counts(db, project.id)
    entries, up, down = counts["entries"], counts["up"], counts["down"]
    by_status = repository.pairs_by_status(db, project.id)
    paired = repository.paired_entries(db, project.id)
    return FeedbackStats(
        entries=entries,
        up=up,
        down=down,
        neutral=entries - up - down,
        up_share=round(up / entries, 4) if entries else None,
        down_share=round(down / entries, 4) if entries else None,
        prompts=counts["prompts"],
        pairable_prompts=repository.pairable_prompts(db, project.id),
        pairs=sum(by_status.values()),
        pairs_by_status=by_status,
        paired_entries=paired,
        unpaired_entries=entries - paired,
    )


def provenance(db: Session, project: Project, pair_id: int) -> PairProvenance:
    """The feedback rows (log ids, file and line) a pair was made from."""
    pair = in_project(db, PreferencePair, project.id, pair_id)
    if pair is None or pair.source != Source.feedback:
        raise NotFound(f"no pair {pair_id} made from feedback in project '{project.slug}'")
    entries = [PairEntry(**row) for row in repository.pair_entries(db, project.id, pair_id)]
    return PairProvenance(pair_id=pair_id, entries=entries)
