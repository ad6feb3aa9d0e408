"""When a match counts: the lexical-copy and paraphrase rules, and the helpers the detector
applies them with (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.contamination.align import Alignment
from app.contamination.records import content_key
from app.embeddings.types import F32, TextEncoder

COVERAGE_FLAG = 0.6
COVERAGE_FLAG_SHORT = 0.8
WEIGHTED_FLAG = 0.7


def lexical_copy(alignment: Alignment, eval_len: int) -> bool:
    """Whether an in-order word alignment shows the eval text copied, possibly edited: most of
    its words (most of its *rare* words too) in runs, at least six words in all, and nearly all
    of a short text."""
    matched = sum(b.size for b in alignment.blocks)
    need = COVERAGE_FLAG_SHORT if eval_len < 12 else COVERAGE_FLAG
    return alignment.coverage >= need and alignment.weighted >= WEIGHTED_FLAG and matched >= 6


PARAPHRASE_RULES = (
    # (cosine, gap to the item's nearest eval neighbour, anchor overlap, margin over next item)
    (0.75, 0.0, 0.1, 0.0),  # close, and closer than the set's own items are to each other
    (0.5, 0.15, 0.3, 0.1),  # moderately close but far above the neighbourhood, with anchors
    (0.85, 0.15, 0.0, 0.15),  # very close and unambiguous even without shared words
)
"""Tuned on benchmarks/contamination_data.py (seed 0), checked on seed 1; see the README."""


def paraphrase(cosine: float, anchors: float, gap: float, margin: float) -> bool:
    """Whether an embedding match is a paraphrase rather than an honest row on the same topic.

    ``gap`` is how much closer the row is to the item than the item's nearest *other* eval item
    is: in a set of look-alike items (HumanEval's docstrings, GSM8K's word problems) being
    similar is the norm, so only a row that is closer than the set's own neighbours counts.
    ``margin`` is how much closer it is to this item than to the next one; ``anchors`` is the
    share of the item's rare content words it keeps.
    """
    return any(
        cosine >= c and gap >= g and anchors >= a and margin >= m for c, g, a, m in PARAPHRASE_RULES
    )


@dataclass(slots=True)
class EmbeddingMemo:
    """An in-memory embedding cache keyed by content hash (the database one has the same face)."""

    encoder: TextEncoder
    vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)

    def __call__(self, texts: Sequence[str]) -> F32:
        keys = [content_key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.vectors]
        if missing:
            fresh = self.encoder.encode([texts[i] for i in missing])
            for i, vector in zip(missing, fresh, strict=True):
                self.vectors[keys[i]] = vector
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self.vectors[k] for k in keys]).astype(np.float32, copy=False)
