"""ROUGE-L between instructions, and the pool filter Self-Instruct uses (a new instruction is
kept only when its ROUGE-L F-measure with every instruction already in the pool is below 0.7).

Words are the normalised words of :func:`app.text.words.words` (case and punctuation ignored),
as ``rouge_score``'s tokenizer does. A bound skips the LCS for most pool entries: the LCS is at
most the shorter length, and at most the multiset overlap, itself at most the distinct words in
common plus either side's repeated tokens (``|A| - |set(A)|``); so
``2 * bound / (m + n) < threshold`` rules a pair out.
"""

from __future__ import annotations

import array
from collections.abc import Sequence

import numpy as np

from app.text.words import words

THRESHOLD = 0.7


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(a: Sequence[str], b: Sequence[str]) -> float:
    """ROUGE-L F-measure (beta = 1) of two word sequences."""
    if not a or not b:
        return 0.0
    lcs = lcs_length(a, b)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(b), lcs / len(a)
    return 2 * precision * recall / (precision + recall)


class RougePool:
    """The instructions seen so far; :meth:`add_if_novel` keeps a new one only when it is below
    the threshold against all of them.

    The bound is computed for every entry at once: an inverted index (word -> entry ids) gives
    each entry's count of distinct shared words with one ``bincount``, so the Python work per
    new instruction is the handful of LCS tables the bound lets through, not a loop over the
    pool."""

    def __init__(self, texts: Sequence[str] = (), threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self._tokens: list[list[str]] = []
        self._postings: dict[str, array.array[int]] = {}
        self._lengths: array.array[int] = array.array("q")
        self._repeats: array.array[int] = array.array("q")
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._tokens)

    def add(self, text: str) -> None:
        self._add(words(text))

    def _add(self, tokens: list[str]) -> None:
        index = len(self._tokens)
        distinct = set(tokens)
        for word in distinct:
            self._postings.setdefault(word, array.array("q")).append(index)
        self._tokens.append(tokens)
        self._lengths.append(len(tokens))
        self._repeats.append(len(tokens) - len(distinct))

    def _candidates(self, tokens: list[str], threshold: float) -> list[int]:
        """Entries whose ROUGE-L bound with ``tokens`` reaches ``threshold``."""
        n, distinct = len(tokens), set(tokens)
        lists = [np.frombuffer(self._postings[w], dtype=np.int64)
                 for w in distinct if w in self._postings]  # fmt: skip
        if not n or not lists:
            return []
        overlap = np.bincount(np.concatenate(lists), minlength=len(self._tokens))
        lengths = np.frombuffer(self._lengths, dtype=np.int64)
        repeats = np.minimum(np.frombuffer(self._repeats, dtype=np.int64), n - len(distinct))
        bound = np.minimum(np.minimum(overlap + repeats, lengths), n)
        hits: list[int] = np.flatnonzero(2 * bound >= threshold * (lengths + n)).tolist()
        return hits

    def best(self, text: str) -> float:
        """The highest ROUGE-L of ``text`` against the pool (0.0 for an empty pool)."""
        tokens = words(text)
        hits = self._candidates(tokens, 1e-9)
        return max((rouge_l(tokens, self._tokens[i]) for i in hits), default=0.0)

    def add_if_novel(self, text: str) -> tuple[bool, float]:
        """Add ``text`` unless some pool entry reaches the threshold; returns (added, the score
        that refused it or 0.0)."""
        tokens = words(text)
        for i in self._candidates(tokens, self.threshold):
            score = rouge_l(tokens, self._tokens[i])
            if score >= self.threshold:
                return False, score
        self._add(tokens)
        return True, 0.0
