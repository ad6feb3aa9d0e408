"""Exact and near-verbatim duplicates: normalised-word keys and MinHash LSH on word shingles.

Texts are compared as their normalised words (:func:`app.text.words.words`: case,
punctuation and spacing ignored).  *Exact* duplicates share the whole word sequence.  *Lexical*
near-duplicates have word 3-shingle sets with Jaccard >= 0.8: candidates come from MinHash LSH
(128 permutations, 25 bands of 5 rows; a pair at J = 0.8 shares a band with probability
1 - (1 - 0.8^5)^25 > 0.9999) and every candidate is verified on the exact shingle sets, so no
pair below the threshold is reported.  Only one text per exact key enters the LSH; its copies
join through the exact edges.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.diversity.neighbours import Pairs
from app.text.sketch import MinHasher, WordBatch, WordHasher, mix64, ngrams, sets_by_record
from app.text.words import words

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]

SHINGLE = 3
NUM_PERM = 128
BANDS = 25
BAND_ROWS = 5
LEXICAL_THRESHOLD = 0.8
MAX_BUCKET = 64
"""A band bucket with more texts than this is linked as a chain, not all pairs (verified)."""
_BAND_MULT = np.uint64(0x9E3779B97F4A7C15)


def exact_key(text: str) -> int:
    """A 64-bit key of the normalised word sequence (two texts equal up to case/spacing)."""
    return _key_of(words(text))


@dataclass(slots=True)
class LexicalIndex:
    """What the duplicate checks keep per text, so one edited text is re-checked quickly."""

    exact_keys: U64
    band_keys: U64
    """(n, BANDS) hashes of each band of the MinHash signature; 0 for a text with no words."""
    word_counts: I64
    hasher: WordHasher
    minhasher: MinHasher

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        hasher, minhasher = WordHasher(), MinHasher(NUM_PERM)
        word_lists = [words(t) for t in texts]
        keys = np.array([_key_of(ws) for ws in word_lists], dtype=np.uint64)
        bands = _band_keys(hasher, minhasher, word_lists)
        counts = np.fromiter((len(ws) for ws in word_lists), dtype=np.int64, count=len(texts))
        return cls(keys, bands, counts, hasher, minhasher)

    def exact_pairs(self) -> Pairs:
        """Consecutive members of each set of equal keys (a chain joins them all)."""
        order = np.argsort(self.exact_keys, kind="stable")
        keys = self.exact_keys[order]
        same = np.flatnonzero(keys[1:] == keys[:-1])
        left, right = order[same], order[same + 1]
        return _pairs(np.minimum(left, right), np.maximum(left, right), np.ones(len(same)))

    def lexical_pairs(self, texts: Sequence[str], threshold: float = LEXICAL_THRESHOLD) -> Pairs:
        """Pairs of texts (different exact keys) with shingle Jaccard >= ``threshold``."""
        _, first = np.unique(self.exact_keys, return_index=True)
        reps = np.sort(first[self.word_counts[first] > 0])
        candidates: set[tuple[int, int]] = set()
        for band in range(BANDS):
            keys = self.band_keys[reps, band]
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            cuts = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
            starts = np.concatenate([[0], cuts])
            ends = np.concatenate([cuts, [len(keys)]])
            for s, e in zip(starts[ends - starts > 1].tolist(), ends[ends - starts > 1].tolist(),
                            strict=True):  # fmt: skip
                members = sorted(reps[order[s:e]].tolist())
                candidates.update(_bucket_pairs(members))
        return self._verify(texts, sorted(candidates), threshold)

    def pairs_with(
        self, index: int, texts: Sequence[str], threshold: float = LEXICAL_THRESHOLD
    ) -> tuple[Pairs, Pairs]:
        """Exact and lexical pairs of one text against all others (after :meth:`replace`)."""
        same = np.flatnonzero(self.exact_keys == self.exact_keys[index])
        same = same[same != index]
        exact = _pairs(np.minimum(same, index), np.maximum(same, index), np.ones(len(same)))
        if self.word_counts[index] == 0:
            return exact, Pairs.empty()
        hits = (self.band_keys == self.band_keys[index]).any(axis=1)
        hits[index] = False
        hits[same] = False
        hits &= self.word_counts > 0
        cand = [(min(int(j), index), max(int(j), index)) for j in np.flatnonzero(hits)]
        return exact, self._verify(texts, cand, threshold)

    def replace(self, index: int, text: str) -> None:
        ws = words(text)
        self.exact_keys[index] = _key_of(ws)
        self.band_keys[index] = _band_keys(self.hasher, self.minhasher, [ws])[0]
        self.word_counts[index] = len(ws)

    def _verify(
        self, texts: Sequence[str], candidates: Sequence[tuple[int, int]], threshold: float
    ) -> Pairs:
        if not candidates:
            return Pairs.empty()
        rows = sorted({i for pair in candidates for i in pair})
        sets = dict(zip(rows, shingle_sets(self.hasher, [texts[i] for i in rows]), strict=True))
        left, right, sims = [], [], []
        for i, j in candidates:
            a, b = sets[i], sets[j]
            union = len(a | b)
            jac = len(a & b) / union if union else 0.0
            if jac >= threshold:
                left.append(i)
                right.append(j)
                sims.append(jac)
        return _pairs(np.array(left), np.array(right), np.array(sims))


def shingle_sets(hasher: WordHasher, texts: Sequence[str]) -> list[set[int]]:
    """Each text's set of word 3-shingle hashes (a short text: one hash of all its words)."""
    batch = WordBatch.from_words(hasher, [words(t) for t in texts])
    grams = ngrams(batch, SHINGLE, short_whole=True)
    return sets_by_record(grams, len(texts))


def _key_of(ws: Sequence[str]) -> int:
    joined = "\x1f".join(ws).encode()
    return int.from_bytes(hashlib.blake2b(joined, digest_size=8).digest(), "little")


def _band_keys(
    hasher: WordHasher, minhasher: MinHasher, word_lists: Sequence[Sequence[str]], chunk: int = 4096
) -> U64:
    out = np.zeros((len(word_lists), BANDS), dtype=np.uint64)
    for start in range(0, len(word_lists), chunk):
        part = word_lists[start : start + chunk]
        batch = WordBatch.from_words(hasher, part)
        sigs = minhasher.signatures(ngrams(batch, SHINGLE, short_whole=True), len(part))
        bands = sigs[:, : BANDS * BAND_ROWS].astype(np.uint64).reshape(len(part), BANDS, BAND_ROWS)
        acc = bands[:, :, 0].copy()
        for r in range(1, BAND_ROWS):
            acc *= _BAND_MULT
            acc += bands[:, :, r]
        acc += np.arange(BANDS, dtype=np.uint64)  # a different key space per band
        keys = mix64(acc)
        keys[batch.lengths == 0] = 0
        out[start : start + len(part)] = keys
    return out


def _bucket_pairs(members: list[int]) -> Iterable[tuple[int, int]]:
    if len(members) <= MAX_BUCKET:
        return ((a, b) for k, a in enumerate(members) for b in members[k + 1 :])
    # A huge bucket (templated texts): a chain plus a star keeps the work linear; verification
    # still decides every link.
    chain = itertools.pairwise(members)
    star = ((members[0], b) for b in members[2:])
    return (*chain, *star)


def _pairs(left: npt.ArrayLike, right: npt.ArrayLike, sims: npt.ArrayLike) -> Pairs:
    return Pairs(
        np.asarray(left, dtype=np.int64),
        np.asarray(right, dtype=np.int64),
        np.asarray(sims, dtype=np.float32),
    )
