"""Contamination checks of a project's examples and pairs against its frozen eval sets.

A check is a *run*: the planning job works out which items need checking (never checked
against a set at their current content, or everything for a full check), splits them into
chunks and queues one job per chunk, so several workers share the work.  Each chunk job checks
its items against every set, replaces their open flags, marks them checked at their content
hash and counts itself into the run; the chunk that brings ``done`` to ``total`` closes the run
(the chord's callback, done with one guarded UPDATE).  Editing an example queues a run for just
that item.  Never commits: callers own the transaction.

The `name as name` imports are what jobs/handlers.py and exports/service.py still read from
this module (the encoder is also patched here by the tests); they go once those move (issue 17).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.contamination import repository
from app.contamination.detector import EvalIndex
from app.contamination.indexes import compute_index as compute_index
from app.contamination.indexes import load_index
from app.contamination.indexes import store_index as store_index
from app.contamination.names import CHECK_JOB as CHECK_JOB
from app.contamination.names import CHUNK_JOB as CHUNK_JOB
from app.contamination.names import CHUNK_SIZE
from app.contamination.names import INDEX_JOB as INDEX_JOB
from app.contamination.overview import export_view as export_view
from app.contamination.records import Flag, TrainText
from app.embeddings import repository as embeddings
from app.embeddings.cache import DbEmbeddings
from app.embeddings.cache import get_text_encoder as get_text_encoder
from app.embeddings.types import TextEncoder
from app.errors import Invalid, NotFound
from app.items.events import on_content_changed
from app.jobs import service as jobs
from app.models import (
    ContaminationRun,
    EvalSet,
    FlagStatus,
    ItemKind,
    Project,
    User,
)
from app.models.base import utcnow
from app.text.itemtext import message_text, prompt_text
from app.text.words import words_with_spans

log = logging.getLogger(__name__)


# -- runs --------------------------------------------------------------------------------------


def start_check(
    db: Session,
    project: Project,
    user: User | None,
    *,
    eval_set_ids: Sequence[int] | None = None,
    full: bool = False,
    items: Sequence[tuple[ItemKind, int]] | None = None,
) -> ContaminationRun:
    sets = repository.frozen_sets(db, project.id, eval_set_ids)
    if eval_set_ids is not None and len(sets) != len(set(eval_set_ids)):
        raise Invalid("only frozen eval sets of this project can be checked against")
    if not sets:
        raise Invalid("freeze an eval set first: checks run against frozen eval sets")
    run = ContaminationRun(
        project_id=project.id,
        eval_set_ids=[s.id for s in sets],
        full=full,
        started_at=utcnow(),
        created_by_id=user.id if user else None,
    )
    db.add(run)
    db.flush()
    params: dict[str, Any] = {"run_id": run.id}
    if items is not None:
        params["items"] = [[kind.value, item_id] for kind, item_id in items]
    job = jobs.create(
        db, kind=CHECK_JOB, params=params, project_id=project.id, user_id=user.id if user else None
    )
    run.job_id = job.id
    return run


def has_frozen_sets(db: Session, project: Project) -> bool:
    return bool(repository.frozen_sets(db, project.id))


@on_content_changed
def recheck_after_edit(
    db: Session, project: Project, user: User, kind: ItemKind, item_id: int
) -> None:
    """Queue a check of one edited item when the project has frozen eval sets."""
    if repository.frozen_sets(db, project.id):
        start_check(db, project, user, items=[(kind, item_id)])


def plan_run(db: Session, run_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """The planning job: find what needs checking and queue the chunk jobs (the run row is
    locked first, so the reads and the writes see one state)."""
    repository.lock_run(db, run_id)
    run = repository.get_run(db, run_id)
    if run is None:
        raise NotFound(f"contamination run {run_id} not found")
    sets = repository.frozen_sets(db, run.project_id, run.eval_set_ids)
    wanted: dict[ItemKind, set[int]] | None = None
    if params.get("items") is not None:
        wanted = {ItemKind.example: set(), ItemKind.pair: set()}
        for kind, item_id in params["items"]:
            wanted[ItemKind(kind)].add(int(item_id))
    chunks: list[tuple[ItemKind, list[int]]] = []
    for kind in (ItemKind.example, ItemKind.pair):
        pending: set[int] = set()
        for eval_set in sets:
            pending |= repository.pending_ids(db, run.project_id, kind, eval_set.id, full=run.full)
        if wanted is not None:
            pending &= wanted[kind]
        ordered = sorted(pending)
        chunks.extend(
            (kind, ordered[i : i + CHUNK_SIZE]) for i in range(0, len(ordered), CHUNK_SIZE)
        )
    run.total = sum(len(ids) for _, ids in chunks)
    if not chunks:
        run.finished_at = utcnow()
    for kind, ids in chunks:
        jobs.create(
            db,
            kind=CHUNK_JOB,
            params={"run_id": run.id, "kind": kind.value, "ids": ids},
            project_id=run.project_id,
            user_id=run.created_by_id,
        )
    return {"run_id": run.id, "items": run.total, "chunks": len(chunks)}


@dataclass
class CheckedChunk:
    """A chunk checked in a read-only pass: the flags to write and what else to record."""

    run_id: int
    kind: ItemKind
    ids: list[int]
    checked: list[tuple[int, str]]
    """(item id, content hash) of every item that was read."""
    flags: list[tuple[int, list[dict[str, Any]]]]
    """(eval set id, flag rows) per eval set."""
    model_id: str
    new_embeddings: dict[str, bytes]


def prepare_chunk(
    db: Session,
    run_id: int,
    kind: ItemKind,
    ids: Sequence[int],
    encoder: TextEncoder | None,
    progress: Callable[[float, str], None] | None = None,
) -> CheckedChunk:
    """Check a chunk of items against the run's eval sets, writing nothing (SQLite would
    block the progress and heartbeat writes behind an open write transaction)."""
    run = repository.get_run(db, run_id)
    if run is None:
        raise NotFound(f"contamination run {run_id} not found")
    rows = repository.load_items(db, kind, ids)
    texts: list[TrainText] = []
    for row in rows:
        messages = row[2] if kind is ItemKind.example else [*row[2], *row[3], *row[4]]
        texts.append(TrainText(message_text(messages), prompt_text(row[2])))
    embeddings = None
    cache = DbEmbeddings(db, encoder, defer_writes=True) if encoder is not None else None
    if cache is not None and texts:
        embeddings = cache([t.prompt for t in texts])
    sets = repository.frozen_sets(db, run.project_id, run.eval_set_ids)
    results: list[tuple[int, list[dict[str, Any]]]] = []
    for n, eval_set in enumerate(sets):
        if progress is not None:
            progress(n / len(sets), f"checking {len(rows)} items against {eval_set.name}")
        index = load_index(db, eval_set, encoder)
        item_ids = repository.eval_item_ids(db, eval_set.id)
        flags = index.check(texts, embeddings)
        records = [
            _flag_row(run, eval_set, kind, rows[f.train], texts[f.train], f, index, item_ids)
            for f in flags
        ]
        results.append((eval_set.id, records))
    return CheckedChunk(
        run_id=run.id,
        kind=kind,
        ids=list(ids),
        checked=[(r[0], r[1]) for r in rows],
        flags=results,
        model_id=encoder.model_id if encoder is not None else "lexical",
        new_embeddings=cache.pending if cache is not None else {},
    )


def write_chunk(db: Session, chunk: CheckedChunk) -> dict[str, Any]:
    """Record a checked chunk in one short transaction that starts by locking the run row."""
    repository.lock_run(db, chunk.run_id)
    embeddings.store_embeddings(db, chunk.model_id, chunk.new_embeddings)
    found = 0
    item_ids = [item_id for item_id, _ in chunk.checked]
    for eval_set_id, records in chunk.flags:
        found += repository.replace_open_flags(db, eval_set_id, chunk.kind, item_ids, records)
        repository.mark_checked(db, eval_set_id, chunk.kind, chunk.checked)
    closed = repository.advance_run(db, chunk.run_id, len(chunk.ids), found, utcnow())
    return {"run_id": chunk.run_id, "items": len(chunk.checked), "flags": found,
            "closed_run": closed}  # fmt: skip


def check_chunk(
    db: Session,
    run_id: int,
    kind: ItemKind,
    ids: Sequence[int],
    encoder: TextEncoder | None,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Both halves in one transaction (tests, scripts); the job runs them in two."""
    return write_chunk(db, prepare_chunk(db, run_id, kind, ids, encoder, progress))


def _flag_row(
    run: ContaminationRun,
    eval_set: EvalSet,
    kind: ItemKind,
    row: Any,
    text: TrainText,
    flag: Flag,
    index: EvalIndex,
    item_ids: list[int],
) -> dict[str, Any]:
    segment = index.segments[flag.segment] if flag.segment >= 0 else None
    spans: dict[str, Any] = {"train": [], "eval": [], "eval_text": segment.text if segment else ""}
    if segment is not None and flag.blocks:
        _, train_spans = words_with_spans(text.text)
        _, eval_spans = words_with_spans(segment.text)
        for block in flag.blocks:
            spans["train"].append(_char_span(train_spans, block.train_start, block.size))
            spans["eval"].append(_char_span(eval_spans, block.eval_start, block.size))
        spans["train"] = [s for s in spans["train"] if s]
        spans["eval"] = [s for s in spans["eval"] if s]
    scores = [s for s in (flag.jaccard, flag.containment, flag.cosine) if s is not None]
    item = index.items[flag.item]
    return {
        "project_id": run.project_id,
        "run_id": run.id,
        "eval_set_id": eval_set.id,
        "eval_item_id": item_ids[item.item_index],
        "item_kind": kind,
        "example_id": row[0] if kind is ItemKind.example else None,
        "pair_id": row[0] if kind is ItemKind.pair else None,
        "item_content_hash": row[1],
        "method": flag.method,
        "jaccard": flag.jaccard,
        "containment": flag.containment,
        "cosine": flag.cosine,
        "score": max(scores, default=0.0),
        "eval_field": segment.field if segment else None,
        "spans": spans,
        "status": FlagStatus.open,
        "created_at": utcnow(),
    }


def _char_span(spans: list[tuple[int, int]], start: int, size: int) -> list[int] | None:
    if not spans or start >= len(spans):
        return None
    end = min(start + size, len(spans)) - 1
    return [spans[start][0], spans[end][1]]
