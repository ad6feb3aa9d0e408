"""Diversity runs over a project's items: embed in shared chunk jobs, score, re-score edits.

A run embeds every example (all its turns) and pair (prompt + chosen) in chunk jobs of 2,000
items that any worker picks up; embeddings are cached by (model, content hash), so a second
run, or the contamination check, reuses them.  The chunk that completes the embedding phase
queues the scoring job: neighbours, clusters, Vendi, near-duplicate groups and the 2D map,
stored per item, with the dataset metrics and how they moved since the previous run.  The
scoring state is kept in a file so that an edited example is re-scored alone, in well under
two seconds.  Never commits.
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.config import get_settings
from app.diversity import repository
from app.diversity.scores import (
    Config,
    DiversityState,
    compare,
    dataset_metrics,
    item_scores,
    rescore_one,
    score,
)
from app.diversity.subset import TAU
from app.embeddings.cache import DbEmbeddings
from app.embeddings.types import TextEncoder
from app.errors import Invalid, NotFound
from app.items.events import on_content_changed
from app.jobs import service as jobs
from app.models import (
    DiversityRun,
    ItemKind,
    Project,
    User,
)
from app.models.base import in_project, utcnow
from app.text.itemtext import message_text

log = logging.getLogger(__name__)

PLAN_JOB = "diversity_plan"
EMBED_JOB = "diversity_embed"
SCORE_JOB = "diversity_score"
RESCORE_JOB = "diversity_rescore"
CHUNK_SIZE = 2000
QUALITY_SCORES = ("novelty", "length")


def _state_path(run_id: int) -> Path:
    folder = get_settings().data_dir / "diversity"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"run-{run_id}.pkl"


_states: dict[int, DiversityState] = {}
_states_lock = threading.Lock()


def load_state(run: DiversityRun) -> DiversityState:
    with _states_lock:
        if run.id in _states:
            return _states[run.id]
    path = _state_path(run.id)
    if not path.exists():
        raise NotFound(f"the scores of diversity run {run.id} are gone; run it again")
    state: DiversityState = pickle.loads(path.read_bytes())  # noqa: S301 - our own file
    with _states_lock:
        _states.clear()  # one project's state at a time per process is plenty
        _states[run.id] = state
    return state


def _save_state(run_id: int, state: DiversityState) -> None:
    path = _state_path(run_id)
    partial = path.with_suffix(".partial")
    partial.write_bytes(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    partial.replace(path)
    with _states_lock:
        _states.clear()
        _states[run_id] = state


# -- runs --------------------------------------------------------------------------------------


def start_run(
    db: Session, project: Project, user: User | None, *, tau: float = TAU
) -> DiversityRun:
    if not 0.0 < tau <= 1.0:
        raise Invalid("field tau: a cosine in (0, 1]")
    run = DiversityRun(
        project_id=project.id,
        params={"tau": tau},
        started_at=utcnow(),
        created_by_id=user.id if user else None,
    )
    db.add(run)
    db.flush()
    job = jobs.create(db, kind=PLAN_JOB, params={"run_id": run.id}, project_id=project.id,
                      user_id=user.id if user else None)  # fmt: skip
    run.job_id = job.id
    return run


def plan_run(db: Session, run_id: int) -> dict[str, Any]:
    repository.lock_run(db, run_id)
    run = _run(db, run_id)
    chunks: list[tuple[ItemKind, list[int]]] = []
    for kind in (ItemKind.example, ItemKind.pair):
        ids = repository.item_ids(db, run.project_id, kind)
        chunks.extend((kind, ids[i : i + CHUNK_SIZE]) for i in range(0, len(ids), CHUNK_SIZE))
    run.total = sum(len(ids) for _, ids in chunks)
    if not chunks:
        run.phase, run.finished_at, run.failed = "done", utcnow(), "the project has no items"
        return {"run_id": run.id, "items": 0}
    for kind, ids in chunks:
        jobs.create(db, kind=EMBED_JOB, params={"run_id": run.id, "kind": kind.value, "ids": ids},
                    project_id=run.project_id, user_id=run.created_by_id)  # fmt: skip
    return {"run_id": run.id, "items": run.total, "chunks": len(chunks)}


@dataclass
class EmbeddedChunk:
    run_id: int
    count: int
    model_id: str
    new_embeddings: dict[str, bytes]


def embed_chunk(
    db: Session, run_id: int, kind: ItemKind, ids: Sequence[int], encoder: TextEncoder
) -> EmbeddedChunk:
    """Embed a chunk (read-only; cached vectors are not recomputed)."""
    _run(db, run_id)
    rows = repository.load_items(db, kind, ids)
    cache = DbEmbeddings(db, encoder, defer_writes=True)
    cache([message_text(row[1]) for row in rows])
    return EmbeddedChunk(run_id, len(ids), encoder.model_id, cache.pending)


def record_chunk(db: Session, chunk: EmbeddedChunk) -> dict[str, Any]:
    """Store a chunk's new embeddings; the chunk that completes the phase queues scoring."""
    repository.lock_run(db, chunk.run_id)
    from app.embeddings import repository as cache

    cache.store_embeddings(db, chunk.model_id, chunk.new_embeddings)
    last = repository.advance(db, chunk.run_id, chunk.count)
    if last:
        run = _run(db, chunk.run_id)
        jobs.create(db, kind=SCORE_JOB, params={"run_id": run.id}, project_id=run.project_id,
                    user_id=run.created_by_id)  # fmt: skip
    return {"run_id": chunk.run_id, "embedded": chunk.count, "scoring_queued": last}


@dataclass
class ScoredRun:
    run_id: int
    model_id: str
    state: DiversityState
    rows: list[dict[str, Any]]
    metrics: dict[str, Any]
    previous: dict[str, Any] | None


def score_run(
    db: Session,
    run_id: int,
    encoder: TextEncoder,
    progress: Callable[[float, str], None] | None = None,
) -> ScoredRun:
    """Every score of every item (read-only; embeddings come from the cache)."""
    run = _run(db, run_id)
    items: list[tuple[ItemKind, Any]] = []
    for kind in (ItemKind.example, ItemKind.pair):
        ids = repository.item_ids(db, run.project_id, kind)
        items.extend((kind, row) for row in repository.load_items(db, kind, ids))
    texts = [message_text(row[1]) for _, row in items]
    if progress is not None:
        progress(0.1, f"scoring {len(items):,} items")
    cache = DbEmbeddings(db, encoder, defer_writes=True)
    vectors = cache(texts) if texts else np.zeros((0, 384), np.float32)
    state = score(vectors, texts, [row[2] for _, row in items],
                  Config(tau=float(run.params.get("tau", TAU))))  # fmt: skip
    scores = item_scores(state)
    rows = []
    for position, ((kind, row), s) in enumerate(zip(items, scores, strict=True)):
        rows.append({
            "run_id": run.id, "position": position, "item_kind": kind,
            "example_id": row[0] if kind is ItemKind.example else None,
            "pair_id": row[0] if kind is ItemKind.pair else None,
            "nn_position": s["nn"], "nn_sim": s["nn_similarity"], "novelty": s["novelty"],
            "cluster": s["cluster"], "dup_group": s["duplicate_group"], "x": s["x"], "y": s["y"],
            "chars": s["chars"], "words": s["words"], "turns": s["turns"],
        })  # fmt: skip
    metrics = dataset_metrics(state)
    previous = repository.last_finished(db, run.project_id)
    before = previous.metrics if previous is not None and previous.id != run.id else None
    if before is not None:
        metrics["changes"] = compare(before, metrics)
    return ScoredRun(run.id, encoder.model_id, state, rows, metrics, before)


def record_scores(db: Session, scored: ScoredRun) -> dict[str, Any]:
    repository.lock_run(db, scored.run_id)
    run = _run(db, scored.run_id)
    _save_state(run.id, scored.state)
    repository.replace_scores(db, run.project_id, run.id, scored.rows)
    run.metrics = scored.metrics
    run.previous_metrics = scored.previous
    run.model_id = scored.model_id
    run.phase = "done"
    run.finished_at = utcnow()
    return {"run_id": run.id, "items": len(scored.rows), "vendi": scored.metrics["vendi_score"]}


def _run(db: Session, run_id: int) -> DiversityRun:
    run = repository.get_run(db, run_id)
    if run is None:
        raise NotFound(f"diversity run {run_id} not found")
    return run


def get_run(db: Session, project: Project, run_id: int) -> DiversityRun:
    run = in_project(db, DiversityRun, project.id, run_id)
    if run is None:
        raise NotFound(f"diversity run {run_id} not found")
    return run


def latest(db: Session, project: Project) -> DiversityRun | None:
    return repository.last_finished(db, project.id)


def runs(db: Session, project: Project) -> list[DiversityRun]:
    return repository.latest_runs(db, project.id)


def run_failure(db: Session, run: DiversityRun) -> str | None:
    if run.failed or run.finished_at is not None:
        return run.failed
    for job in jobs.jobs_with_param(db, run.project_id, (PLAN_JOB, EMBED_JOB, SCORE_JOB),
                                    "run_id", run.id, since=run.started_at):  # fmt: skip
        if job.state.finished and job.state.value != "succeeded":
            return job.error or f"a {job.kind} job of this run was {job.state.value}"
    return None


# -- edits -------------------------------------------------------------------------------------


@on_content_changed
def rescore_after_edit(
    db: Session, project: Project, user: User, kind: ItemKind, item_id: int
) -> None:
    """Queue a re-score of one edited item when the project has scores."""
    run = repository.last_finished(db, project.id)
    if run is not None and run.failed is None and repository.score_of(db, run.id, kind, item_id):
        jobs.create(db, kind=RESCORE_JOB,
                    params={"run_id": run.id, "kind": kind.value, "item_id": item_id},
                    project_id=project.id, user_id=user.id)  # fmt: skip


def rescore_item(
    db: Session, run_id: int, kind: ItemKind, item_id: int, encoder: TextEncoder
) -> dict[str, Any]:
    """Re-score one edited item against the run's kept state (neighbours, cluster, Vendi,
    duplicates); the rows whose scores moved are updated."""
    repository.lock_run(db, run_id)
    run = _run(db, run_id)
    current = repository.score_of(db, run.id, kind, item_id)
    rows = repository.load_items(db, kind, [item_id])
    if current is None or not rows:
        return {"run_id": run.id, "rescored": 0}
    state = load_state(run)
    text = message_text(rows[0][1])
    cache = DbEmbeddings(db, encoder)
    vector = cache([text])[0]
    changed = rescore_one(state, current.position, vector, text, rows[0][2])
    scores = item_scores(state)
    repository.update_scores(db, run.id, [
        {"position": int(p), "nn_position": scores[p]["nn"], "nn_sim": scores[p]["nn_similarity"],
         "novelty": scores[p]["novelty"], "cluster": scores[p]["cluster"],
         "dup_group": scores[p]["duplicate_group"], "x": scores[p]["x"], "y": scores[p]["y"],
         "chars": scores[p]["chars"], "words": scores[p]["words"], "turns": scores[p]["turns"]}
        for p in changed.tolist()
    ])  # fmt: skip
    metrics = dataset_metrics(state)
    if run.previous_metrics is not None:
        metrics["changes"] = compare(run.previous_metrics, metrics)
    run.metrics = metrics
    _save_state(run.id, state)
    return {"run_id": run.id, "rescored": len(changed)}
