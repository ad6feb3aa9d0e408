"""Word alignment between an eval text and a training text: how much of the eval text appears,
in order, in the training text, and where (the spans a reviewer sees highlighted)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher


@dataclass(frozen=True, slots=True)
class Block:
    """``size`` words matching from ``eval_start`` in the eval text and ``train_start`` in the
    training text."""

    eval_start: int
    train_start: int
    size: int


@dataclass(frozen=True, slots=True)
class Alignment:
    coverage: float
    """Share of the eval text's words inside matching runs of at least ``min_run`` words."""
    blocks: tuple[Block, ...]
    weighted: float = 0.0
    """The same share with each word weighted by its rarity in the eval set, so a run of
    boilerplate ("which of the following is not a") covers little."""


def align(
    eval_words: Sequence[str],
    train_words: Sequence[str],
    min_run: int = 3,
    weight: Callable[[str], float] | None = None,
) -> Alignment:
    """Matching runs of words (in order) between the two texts; runs shorter than ``min_run``
    (``2`` for eval texts under 12 words) are ignored as chance overlap."""
    if not eval_words or not train_words:
        return Alignment(0.0, ())
    if len(eval_words) < 12:
        min_run = min(min_run, 2)
    matcher = SequenceMatcher(None, eval_words, train_words, autojunk=False)
    blocks = tuple(
        Block(a, b, size) for a, b, size in matcher.get_matching_blocks() if size >= min_run
    )
    covered = sum(block.size for block in blocks)
    weighted = covered / len(eval_words)
    if weight is not None:
        total = sum(weight(w) for w in eval_words)
        hit = sum(
            weight(w) for b in blocks for w in eval_words[b.eval_start : b.eval_start + b.size]
        )
        weighted = hit / total if total else 0.0
    return Alignment(covered / len(eval_words), blocks, weighted)
