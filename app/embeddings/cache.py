"""The embedding cache both checks share: vectors by (model, content hash) in the database,
misses encoded and stored as float16."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.config import get_settings
from app.embeddings import repository
from app.embeddings.types import TextEncoder


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
