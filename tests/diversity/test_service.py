"""Diversity runs in the app: chunked embedding, scoring, re-score after an edit, subsets,
discarding duplicates."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.diversity import actions, service
from app.errors import Invalid
from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import (
    DiversityScore,
    Example,
    ItemStatus,
    Job,
    Project,
    Revision,
    SelectionItem,
    User,
)
from tests.factories import SHARED_DATA

RunJobs = Callable[[], list[int]]


@pytest.fixture
def items(
    db: Session, project: Project, engineer: User, tmp_path: Path, settings: Settings
) -> list[dict[str, str]]:
    rows = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())[:120]
    copy = dict(rows[3])
    copy["instruction"] = rows[3]["instruction"] + " Please."  # a near duplicate of row 3
    rows.append(copy)
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_file(db, project_id=project.id, path=path, user_id=engineer.id,
                options=ImportOptions(status=ItemStatus.approved),
                rejects_path=tmp_path / "r.jsonl")  # fmt: skip
    db.commit()
    return rows


def _run(db: Session, project: Project, user: User, run_jobs: RunJobs):  # type: ignore[no-untyped-def]
    run = service.start_run(db, project, user)
    db.commit()
    run_jobs()
    db.refresh(run)
    return run


def test_run_embeds_in_chunks_and_scores_every_item(
    db: Session, project: Project, engineer: User, items: list[dict[str, str]],
    run_jobs: RunJobs, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(service, "CHUNK_SIZE", 50)
    run = _run(db, project, engineer, run_jobs)
    assert run.finished_at is not None and run.phase == "done" and run.failed is None
    assert db.scalar(select(func.count()).where(Job.kind == service.EMBED_JOB)) == 3
    assert db.scalar(select(func.count()).where(Job.kind == service.SCORE_JOB)) == 1
    scores = actions.scores_of(db, run)
    assert len(scores) == len(items)
    assert run.metrics is not None and run.metrics["n_items"] == len(items)
    assert run.metrics["vendi_score"] > 1
    groups = {s.dup_group for s in scores if s.dup_group is not None}
    assert len(groups) >= 1  # the near duplicate of row 3
    second = _run(db, project, engineer, run_jobs)
    assert second.metrics is not None and "changes" in second.metrics
    assert second.metrics["changes"]["vendi_score"]["delta"] == pytest.approx(0, abs=1e-6)
    # only the latest run keeps per-item rows
    assert db.scalar(select(func.count()).select_from(DiversityScore)) == len(items)


def test_an_edit_rescores_the_item(
    db: Session, project: Project, engineer: User, items: list[dict[str, str]],
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    run = _run(db, project, engineer, run_jobs)
    target = db.scalars(select(Example).order_by(Example.id).offset(10).limit(1)).one()
    first = db.scalars(select(Example).order_by(Example.id).limit(1)).one()
    messages = [dict(m) for m in first.messages]
    messages[-1]["content"] += " "  # the same words as the first example: a near duplicate
    examples.update(db, project, target.id, engineer,
                    ExampleUpdate(version=target.version, messages=messages))  # fmt: skip
    db.commit()
    run_jobs()
    db.refresh(run)
    row = db.scalar(select(DiversityScore).where(DiversityScore.example_id == target.id))
    assert row is not None and row.nn_sim is not None and row.nn_sim > 0.99
    assert row.dup_group is not None


def test_diverse_subset_and_discarding_duplicates(
    db: Session, project: Project, engineer: User, items: list[dict[str, str]],
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    run = service.start_run(db, project, engineer, tau=0.6)
    db.commit()
    run_jobs()
    db.refresh(run)
    with pytest.raises(Invalid, match=r"between 0\.6 and 1"):
        actions.save_subset(db, project, engineer, run, name="too low", tau=0.5)
    selection = actions.save_subset(db, project, engineer, run, name="diverse", tau=0.6)
    db.commit()
    kept = db.scalar(select(func.count()).where(SelectionItem.selection_id == selection.id))
    assert 0 < kept < len(items)
    assert selection.params["kept"] == kept
    rejected = actions.discard_duplicates(db, project, engineer, run)
    db.commit()
    assert rejected >= 1
    assert db.scalar(select(func.count()).where(Example.status == ItemStatus.rejected)) == rejected
    audit = db.scalars(select(Revision).where(Revision.action == "discard_duplicate")).all()
    assert len(audit) == rejected
