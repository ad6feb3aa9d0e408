"""Eval-set indexes for the contamination check: built from a frozen set's items (with cached
embeddings), stored, and kept in memory per process. Never commits."""

from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.config import get_settings
from app.contamination import repository
from app.contamination.detector import EvalIndex
from app.contamination.records import EvalText
from app.embeddings import repository as embeddings
from app.embeddings.cache import DbEmbeddings
from app.embeddings.types import TextEncoder
from app.errors import Invalid
from app.models import (
    EvalSet,
)

# -- embeddings -------------------------------------------------------------------------------


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
    embeddings.store_embeddings(db, built.model_id, built.new_embeddings)
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
