"""What the detector reads and reports: eval and training texts, flags, and the segments and
embedding texts an eval item is compared as (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from app.contamination.align import Block

MIN_SEGMENT_WORDS = 3


@dataclass(frozen=True, slots=True)
class EvalText:
    """One eval item as the detector sees it."""

    set_index: int
    item_index: int
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TrainText:
    """One training row: all its text, and the prompt side that paraphrases are looked for in."""

    text: str
    prompt: str


@dataclass(slots=True)
class Flag:
    """A training row that holds (a copy, an edit, or a paraphrase of) an eval item."""

    train: int
    item: int
    """Index into :attr:`EvalIndex.items`."""
    method: str
    jaccard: float | None = None
    containment: float | None = None
    cosine: float | None = None
    segment: int = -1
    """The lexical segment that matched best (-1: none)."""
    coverage: float | None = None
    weighted_coverage: float | None = None
    anchors: float | None = None
    gap: float | None = None
    """Cosine minus the item's highest cosine to another eval item."""
    margin: float | None = None
    """Cosine minus the training row's cosine to its next closest eval item."""
    blocks: tuple[Block, ...] = ()
    """Matching runs (eval segment words vs training words) for highlighting."""


@dataclass(slots=True)
class Segment:
    item: int
    field: str
    words: list[str]
    text: str


def content_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def segments_of(fields: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, text) of an item's lexical segments: the whole item and each long-enough field."""
    texts = [(name, text) for name, text in fields.items() if text.strip()]
    out: list[tuple[str, str]] = []
    if len(texts) > 1:
        out.append(("*", "\n".join(text for _, text in texts)))
    out.extend((name, text) for name, text in texts)
    return out


def embedding_texts(fields: Mapping[str, str]) -> list[str]:
    """Texts embedded for an item: the whole item, each field of a few words, and, when the item
    looks multiple-choice (a short stem and short options), the stem joined with each option."""
    texts = [text.strip() for text in fields.values() if text.strip()]
    if not texts:
        return []
    out = ["\n".join(texts)] if len(texts) > 1 else []
    sized = [(len(text.split()), text) for text in texts]
    out.extend(text for n, text in sized if n >= MIN_SEGMENT_WORDS)
    stem_len, stem = max(sized)
    options = [text for n, text in sized if text is not stem and n >= 1]
    if 1 < len(options) <= 8 and stem_len <= 80 and all(n <= 40 for n, _ in sized):
        out.extend(f"{stem}\n{option}" for option in options)
    return list(dict.fromkeys(out))
