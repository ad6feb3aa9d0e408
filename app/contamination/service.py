"""Contamination checks of a project's examples and pairs against its frozen eval sets.

A check is a *run*: the planning job works out which items need checking (never checked
against a set at their current content, or everything for a full check), splits them into
chunks and queues one job per chunk, so several workers share the work.  Each chunk job checks
its items against every set, replaces their open flags, marks them checked at their content
hash and counts itself into the run; the chunk that brings ``done`` to ``total`` closes the run
(the chord's callback, done with one guarded UPDATE).  Editing an example queues a run for just
that item.  Never commits: callers own the transaction.
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.config import get_settings
from app.contamination import repository
from app.contamination.detector import EvalIndex, EvalText, Flag, TextEncoder, TrainText
from app.contamination.itemtext import message_text, prompt_text
from app.contamination.text import words_with_spans
from app.errors import Invalid, NotFound
from app.items import changes
from app.items.events import on_content_changed
from app.jobs import service as jobs
from app.models import (
    ContaminationFlag,
    ContaminationRun,
    EvalItem,
    EvalSet,
    Example,
    FlagStatus,
    ItemKind,
    ItemStatus,
    JobState,
    PreferencePair,
    Project,
    User,
)
from app.models.base import utcnow

log = logging.getLogger(__name__)

CHECK_JOB = "contamination_check"
CHUNK_JOB = "contamination_chunk"
INDEX_JOB = "eval_index"
CHUNK_SIZE = 2000
METHODS = ("minhash", "containment", "embedding")


# -- embeddings -------------------------------------------------------------------------------


def get_text_encoder() -> TextEncoder:
    from app.embeddings.encoder import get_encoder

    settings = get_settings()
    return get_encoder(settings.embedding_model, settings.embedding_precision)


@dataclass
class DbEmbeddings:
    """Embeddings by (model, content hash) from the database cache; misses are encoded and
    stored as float16."""

    db: Session
    encoder: TextEncoder
    defer_writes: bool = False
    """Keep new vectors until :meth:`flush` (so a job can write everything at its end)."""
    _pending: dict[str, bytes] = field(default_factory=dict)

    @property
    def pending(self) -> dict[str, bytes]:
        return dict(self._pending)

    def flush(self) -> None:
        repository.store_embeddings(self.db, self.encoder.model_id, self._pending)
        self._pending = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        import hashlib

        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        model_id = self.encoder.model_id
        cached = repository.cached_embeddings(self.db, model_id, keys)
        missing = [i for i, k in enumerate(keys) if k not in cached]
        vectors: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {
            k: np.frombuffer(v, dtype=np.float16).astype(np.float32) for k, v in cached.items()
        }
        if missing:
            order = list(dict.fromkeys(keys[i] for i in missing))
            first = {k: i for i in missing for k in [keys[i]] if k not in vectors}
            fresh = self.encoder.encode([texts[first[k]] for k in order])
            store: dict[str, bytes] = {}
            for k, vector in zip(order, fresh, strict=True):
                half = vector.astype(np.float16)
                vectors[k] = half.astype(np.float32)
                store[k] = half.tobytes()
            self._pending.update(store)
            if not self.defer_writes:
                self.flush()
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([vectors[k] for k in keys])


# -- eval indexes -----------------------------------------------------------------------------


def fields_of(original: dict[str, Any], text_fields: Sequence[str]) -> dict[str, str]:
    names = list(text_fields) or list(original)
    return {
        name: original[name]
        for name in names
        if isinstance(original.get(name), str) and original[name].strip()
    }


def _lsh_storage(eval_set: EvalSet) -> dict[str, Any] | None:
    url = get_settings().lsh_redis_url
    if not url:
        return None
    from redis import Redis

    kwargs = Redis.from_url(url).connection_pool.connection_kwargs
    return {
        "type": "redis",
        "basename": f"trellis:lsh:{eval_set.content_hash}".encode(),
        "redis": {k: kwargs[k] for k in ("host", "port", "db", "password") if k in kwargs},
    }


@dataclass
class BuiltIndex:
    """An index computed in a read-only pass, with what is still to be written."""

    eval_set_id: int
    content_hash: str
    model_id: str
    index: EvalIndex
    new_embeddings: dict[str, bytes]


def compute_index(db: Session, eval_set: EvalSet, encoder: TextEncoder | None) -> BuiltIndex:
    """What checks need about a frozen set, computed without writing anything."""
    if eval_set.frozen_at is None or eval_set.content_hash is None:
        raise Invalid(f"eval set {eval_set.name!r} is not frozen")
    items = [
        EvalText(0, item.position, fields_of(item.original, eval_set.text_fields))
        for item in repository.eval_items(db, eval_set.id)
    ]
    cache = DbEmbeddings(db, encoder, defer_writes=True) if encoder is not None else None
    index = EvalIndex(items, encoder, lsh_storage=_lsh_storage(eval_set), embedding_cache=cache)
    model_id = encoder.model_id if encoder is not None else "lexical"
    _remember((eval_set.id, eval_set.content_hash, model_id), index)
    pending = cache.pending if cache is not None else {}
    return BuiltIndex(eval_set.id, eval_set.content_hash, model_id, index, pending)


def store_index(db: Session, built: BuiltIndex) -> None:
    """Keep a computed index (and the embeddings it made) for every later check."""
    data = pickle.dumps(built.index, protocol=pickle.HIGHEST_PROTOCOL)
    repository.store_embeddings(db, built.model_id, built.new_embeddings)
    repository.save_index_blob(db, built.eval_set_id, built.content_hash, built.model_id, data)


def build_index(db: Session, eval_set: EvalSet, encoder: TextEncoder | None) -> EvalIndex:
    """Compute and store in one transaction (tests, scripts); jobs use the two halves."""
    built = compute_index(db, eval_set, encoder)
    store_index(db, built)
    return built.index


_indexes: OrderedDict[tuple[int, str, str], EvalIndex] = OrderedDict()
_indexes_lock = threading.Lock()


def _remember(key: tuple[int, str, str], index: EvalIndex) -> None:
    with _indexes_lock:
        _indexes[key] = index
        _indexes.move_to_end(key)
        while len(_indexes) > 8:
            _indexes.popitem(last=False)


def load_index(db: Session, eval_set: EvalSet, encoder: TextEncoder | None) -> EvalIndex:
    """The set's index: from this process's memory, else the stored one, else built now."""
    model_id = encoder.model_id if encoder is not None else "lexical"
    key = (eval_set.id, eval_set.content_hash or "", model_id)
    with _indexes_lock:
        if key in _indexes:
            _indexes.move_to_end(key)
            return _indexes[key]
    blob = repository.index_blob(db, eval_set.id)
    if (
        blob is not None
        and blob.content_hash == eval_set.content_hash
        and blob.model_id == model_id
    ):
        index: EvalIndex = pickle.loads(blob.data)  # noqa: S301 - written by our own workers
        _remember(key, index)
        return index
    # Not built yet (its eval_index job has not run): build it here, in memory only.
    return compute_index(db, eval_set, encoder).index


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
    repository.store_embeddings(db, chunk.model_id, chunk.new_embeddings)
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


# -- overview ----------------------------------------------------------------------------------


@dataclass
class SetOverview:
    eval_set: EvalSet
    checked_examples: int
    checked_pairs: int
    open_by_method: dict[str, int]
    dismissed: int
    dropped: int


@dataclass
class Overview:
    examples: int
    pairs: int
    sets: list[SetOverview]
    last_run: ContaminationRun | None
    runs: list[ContaminationRun]
    changed_since: int
    """Items not checked against every frozen set at their current content."""
    open_flags: int
    failures: dict[int, str]
    """Unfinished runs that never will: run id -> why."""

    @property
    def running(self) -> ContaminationRun | None:
        return next(
            (r for r in self.runs if r.finished_at is None and r.id not in self.failures), None
        )


def overview(db: Session, project: Project) -> Overview:
    sets = repository.frozen_sets(db, project.id)
    counts = repository.flag_counts(db, project.id)
    per_set: list[SetOverview] = []
    pending: set[tuple[ItemKind, int]] = set()
    for eval_set in sets:
        by_method = dict.fromkeys(METHODS, 0)
        dismissed = dropped = 0
        for set_id, method, status, n in counts:
            if set_id != eval_set.id:
                continue
            if status is FlagStatus.open:
                by_method[method] = by_method.get(method, 0) + n
            elif status is FlagStatus.dismissed:
                dismissed += n
            else:
                dropped += n
        per_set.append(
            SetOverview(
                eval_set,
                repository.checked_count(db, eval_set.id, ItemKind.example),
                repository.checked_count(db, eval_set.id, ItemKind.pair),
                by_method,
                dismissed,
                dropped,
            )
        )
        for kind in (ItemKind.example, ItemKind.pair):
            pending |= {
                (kind, i)
                for i in repository.pending_ids(db, project.id, kind, eval_set.id, full=False)
            }
    runs = repository.latest_runs(db, project.id)
    failures = {r.id: why for r in runs if (why := run_failure(db, r)) is not None}
    return Overview(
        failures=failures,
        examples=repository.item_count(db, project.id, ItemKind.example),
        pairs=repository.item_count(db, project.id, ItemKind.pair),
        sets=per_set,
        last_run=repository.last_finished_run(db, project.id),
        runs=runs,
        changed_since=len(pending),
        open_flags=sum(n for _, _, status, n in counts if status is FlagStatus.open),
    )


def list_flags(
    db: Session,
    project: Project,
    *,
    status: FlagStatus | None = FlagStatus.open,
    method: str | None = None,
    eval_set_id: int | None = None,
    sort: str = "score",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ContaminationFlag], int]:
    if method is not None and method not in METHODS:
        raise Invalid(f"field method: expected one of {', '.join(METHODS)}")
    if sort not in ("score", "jaccard", "containment", "cosine", "method", "newest"):
        raise Invalid("field sort: expected score, jaccard, containment, cosine, method or newest")
    return repository.list_flags(
        db, project.id, status=status, method=method, eval_set_id=eval_set_id, sort=sort,
        limit=limit, offset=offset,
    )  # fmt: skip


def open_flag_item_ids(db: Session, project_id: int, kind: ItemKind) -> set[int]:
    return repository.open_flag_item_ids(db, project_id, kind)


# -- exports -----------------------------------------------------------------------------------


@dataclass
class ExportView:
    """What an export needs to know: items with open flags, items not checked at their current
    content, and whether there is anything to check against at all."""

    has_sets: bool
    flagged: dict[ItemKind, set[int]]
    unchecked: dict[ItemKind, set[int]]


def export_view(db: Session, project_id: int) -> ExportView:
    sets = repository.frozen_sets(db, project_id)
    flagged = {k: repository.open_flag_item_ids(db, project_id, k) for k in ItemKind}
    unchecked: dict[ItemKind, set[int]] = {k: set() for k in ItemKind}
    for eval_set in sets:
        for kind in ItemKind:
            unchecked[kind] |= repository.pending_ids(db, project_id, kind, eval_set.id, full=False)
    return ExportView(bool(sets), flagged, unchecked)


# -- runs and flags as the pages show them -----------------------------------------------------


def get_run(db: Session, project: Project, run_id: int) -> ContaminationRun:
    run = repository.get_run(db, run_id)
    if run is None or run.project_id != project.id:
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
    item: Example | PreferencePair | None = None
    if flag.item_kind is ItemKind.example and flag.example_id is not None:
        item = db.get(Example, flag.example_id)
    elif flag.pair_id is not None:
        item = db.get(PreferencePair, flag.pair_id)
    if item is None or item.project_id != project.id:
        raise NotFound(f"the item of flag {flag.id} is gone")
    return item


def training_text(item: Example | PreferencePair) -> str:
    """The item's text exactly as the check read it (``spans.train`` offsets index it)."""
    if isinstance(item, Example):
        return message_text(item.messages)
    return message_text([*item.prompt, *item.chosen, *item.rejected])


def eval_item(db: Session, flag: ContaminationFlag) -> EvalItem | None:
    return repository.get_eval_item(db, flag.eval_item_id)
