"""What the API and the pages show of a run and a flag: one definition for both."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.contamination import flags as flag_service
from app.contamination.highlight import merged_spans
from app.contamination.schemas import FlagDetail, FlagOut
from app.models import ContaminationFlag, ContaminationRun, FlagStatus, Project, User

get_run = flag_service.get_run
training_item = flag_service.training_item
training_text = flag_service.training_text


def run_failure(db: Session, run: ContaminationRun, user: User) -> str | None:
    return flag_service.run_failure(db, run)


def flag_detail(
    db: Session, project: Project, flag: ContaminationFlag, show_eval: bool = True
) -> FlagDetail:
    """The flag side by side; ``show_eval`` False (annotators) withholds the eval text: those
    who write training data never read eval items."""
    item = training_item(db, project, flag)
    text = training_text(item)
    changed = item.content_hash != flag.item_content_hash
    spans = flag.spans or {}
    train_spans = merged_spans(spans.get("train", []), len(text))
    eval_segment = str(spans.get("eval_text") or "")
    # The flag's eval item is in the same project's set (cascade-deleted with it).
    eval_item = flag_service.eval_item(db, flag)
    if not show_eval:
        eval_segment, eval_item = "", None
        spans = {}
    return FlagDetail(
        **FlagOut.model_validate(flag).model_dump(),
        train_text=text,
        train_changed=changed,
        train_spans=[] if changed else [list(s) for s in train_spans],
        eval_text=eval_item.text if eval_item is not None else eval_segment,
        eval_segment=eval_segment,
        eval_spans=[list(s) for s in merged_spans(spans.get("eval", []), len(eval_segment))],
        eval_position=eval_item.position if eval_item is not None else None,
        eval_hidden=not show_eval,
    )


def status_of(value: str) -> FlagStatus | None:
    return None if value == "all" else FlagStatus(value)
