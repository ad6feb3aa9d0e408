"""Anchor words: the rare content words a paraphrase keeps (names, numbers, technical terms).

Embeddings put a paraphrase of an eval question close to it, but they also put every question on
the same topic fairly close.  What tells them apart is that a paraphrase keeps the question's
distinctive words (``Becker``, ``cannabis``; ``ecological``, ``urban``) while an honest question on
the same topic shares only the topic's common words.  Words are crudely stemmed (prefix of six
letters) and weighted by inverse document frequency over the eval set, so words many eval items
share (``sociology``, ``following``) count for little.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "either",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "following",
        "given",
        "answer",
        "question",
        "one",
        "two",
        "three",
        "please",
        "use",
        "using",
        "write",
        "explain",
        "describe",
    ]
)


def stems(words: Iterable[str]) -> set[str]:
    """Content-word stems of normalised words (stopwords and one-letter words dropped)."""
    return {w[:6] for w in words if len(w) > 1 and w not in STOPWORDS}


class AnchorWeights:
    """Inverse document frequencies of stems over a collection of eval texts."""

    def __init__(self, documents: Sequence[set[str]]) -> None:
        counts: Counter[str] = Counter()
        for doc in documents:
            counts.update(doc)
        total = len(documents)
        self._idf = {stem: math.log((total + 1) / (df + 1)) + 1.0 for stem, df in counts.items()}
        self._default = math.log(total + 1) + 1.0

    def weight(self, stem: str) -> float:
        return self._idf.get(stem, self._default)

    def overlap(self, eval_stems: set[str], train_stems: set[str]) -> float:
        """IDF-weighted share of the eval text's stems that the training text also has."""
        if not eval_stems:
            return 0.0
        total = sum(self.weight(s) for s in eval_stems)
        shared = sum(self.weight(s) for s in eval_stems & train_stems)
        return shared / total
