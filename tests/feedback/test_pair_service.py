"""Pairing a project's imported feedback: submitted pairs with source feedback, links to the
log rows, idempotent re-runs, context matching and the counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.feedback import service
from app.feedback.schemas import PairOptions
from app.models import ItemStatus, PreferencePair, Project, Source
from tests.factories import make_pair, write_jsonl
from tests.feedback.helpers import LOG, run_import, write


def feedback_pairs(db: Session, project: Project) -> list[PreferencePair]:
    return list(
        db.scalars(
            select(PreferencePair)
            .where(PreferencePair.project_id == project.id)
            .order_by(PreferencePair.id)
        )
    )


def text(messages: list[dict[str, str]]) -> str:
    return messages[-1]["content"]


def test_pairs_land_submitted_with_their_log_ids(
    db: Session, project: Project, tmp_path: Path
) -> None:
    run_import(db, project, write(tmp_path / "log", LOG, "jsonl", False))
    summary = service.pair_feedback(db, project.id, None, PairOptions())
    pairs = feedback_pairs(db, project)
    got = sorted((text(p.chosen), text(p.rejected)) for p in pairs)
    assert got == [("Blue.", "Seven."), ("Hi!", "Go away."), ("Paris.", "Lyon.")]
    assert all(p.status is ItemStatus.submitted and p.source is Source.feedback for p in pairs)
    assert summary.pairs_created == 3 and summary.pairable_prompts == 3
    assert summary.unpaired_entries == 2  # the 3/5 "Hello." and the lone multi-turn up
    paris = next(p for p in pairs if text(p.chosen) == "Paris.")
    assert paris.prompt == [{"role": "user", "content": "Capital of France?"}]
    links = service.provenance(db, project, paris.id).entries
    assert [(e.log_id, e.chosen) for e in links] == [("e1", True), ("e2", False)]

    again = service.pair_feedback(db, project.id, None, PairOptions())
    assert (again.pairs_created, again.pairs_existing) == (0, 3)
    assert len(feedback_pairs(db, project)) == 3

    stats = service.stats(db, project)
    assert (stats.entries, stats.up, stats.down, stats.neutral) == (8, 4, 3, 1)
    assert stats.pairable_prompts == 3 and stats.pairs == 3
    assert stats.pairs_by_status == {"submitted": 3}
    assert stats.up_share == 0.5


def test_provenance_only_for_feedback_pairs(db: Session, project: Project) -> None:
    other = make_pair(db, project)
    with pytest.raises(NotFound):
        service.provenance(db, project, other.id)


def test_context_option_keeps_different_conversations_apart(
    db: Session, project: Project, tmp_path: Path
) -> None:
    history = [{"role": "user", "content": "Talk like a pirate."},
               {"role": "assistant", "content": "Arr."}]  # fmt: skip
    rows = [
        {"prompt": "Greet me", "response": "Hello there.", "rating": "up"},
        {"messages": [*history, {"role": "user", "content": "greet me"}],
         "response": "Ahoy!", "rating": "down"},
    ]  # fmt: skip
    run_import(db, project, write_jsonl(tmp_path / "ctx.jsonl", rows))
    with_context = service.pair_feedback(db, project.id, None, PairOptions(with_context=True))
    assert with_context.pairs_created == 0 and with_context.prompts == 2
    plain = service.pair_feedback(db, project.id, None, PairOptions())
    assert plain.pairs_created == 1


def test_best_worst_and_cap(db: Session, project: Project, tmp_path: Path) -> None:
    rows = [{"prompt": "q", "response": f"r{score}", "rating": score} for score in (5, 4, 2, 1)]
    run_import(db, project, write_jsonl(tmp_path / "s.jsonl", rows))
    best = service.pair_feedback(db, project.id, None, PairOptions(mode="best_worst"))
    assert best.pairs_created == 1 and best.capped == 3
    (pair,) = feedback_pairs(db, project)
    assert (text(pair.chosen), text(pair.rejected)) == ("r5", "r1")
    capped = service.pair_feedback(db, project.id, None, PairOptions(max_per_prompt=3))
    assert (capped.pairs_created, capped.pairs_existing, capped.capped) == (2, 1, 1)
