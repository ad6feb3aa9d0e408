"""All SQL for the embedding cache: vectors by (model, content hash), stored as float16."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import EmbeddingCache
from app.models.base import dialect_insert


def cached_embeddings(db: Session, model_id: str, hashes: Sequence[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), 1000):
        part = unique[start : start + 1000]
        rows = db.execute(
            select(EmbeddingCache.content_hash, EmbeddingCache.vector).where(
                EmbeddingCache.model_id == model_id, EmbeddingCache.content_hash.in_(part)
            )
        )
        found.update({h: bytes(v) for h, v in rows})
    return found


def store_embeddings(db: Session, model_id: str, vectors: dict[str, bytes]) -> None:
    if not vectors:
        return
    rows = [{"model_id": model_id, "content_hash": h, "vector": v} for h, v in vectors.items()]
    stmt = dialect_insert(db, EmbeddingCache).on_conflict_do_nothing()
    for start in range(0, len(rows), 1000):
        db.execute(stmt, rows[start : start + 1000])
