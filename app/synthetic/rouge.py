"""ROUGE-L between instructions, and the pool filter Self-Instruct uses (a new instruction is
kept only when its ROUGE-L F-measure with every instruction already in the pool is below 0.7).

Words are the normalised words of :func:`app.text.words.words` (case and punctuation ignored),
as ``rouge_score``'s tokenizer does. A bag-of-words bound skips the LCS for most pool entries:
the LCS is at most the multiset overlap, so ``2 * overlap / (m + n) < threshold`` rules a pair
out without the quadratic table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

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
    the threshold against all of them."""

    def __init__(self, texts: Sequence[str] = (), threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self._entries: list[tuple[list[str], Counter[str]]] = []
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, text: str) -> None:
        tokens = words(text)
        self._entries.append((tokens, Counter(tokens)))

    def best(self, text: str) -> float:
        """The highest ROUGE-L of ``text`` against the pool (0.0 for an empty pool)."""
        tokens = words(text)
        if not tokens:
            return 0.0
        counts = Counter(tokens)
        best = 0.0
        for other, other_counts in self._entries:
            total = len(tokens) + len(other)
            if 2 * min(len(tokens), len(other)) / total <= best:
                continue
            overlap = sum((counts & other_counts).values())
            if 2 * overlap / total <= best:
                continue
            best = max(best, rouge_l(tokens, other))
            if best >= 1.0:
                break
        return best

    def add_if_novel(self, text: str) -> tuple[bool, float]:
        score = self.best(text)
        if score >= self.threshold:
            return False, score
        self.add(text)
        return True, score
