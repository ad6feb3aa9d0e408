"""Stable word hashes, word n-gram hashes and MinHash signatures, computed a batch at a time.

Everything here is vectorised with numpy over many records at once: a batch's word hashes are
one uint64 array, records are slices of it, n-grams are polynomial combinations of shifted
views, and MinHash takes the minimum of ``num_perm`` multiply-shift hashes per record with
``np.minimum.reduceat``.  Hashes are stable across processes (BLAKE2b of the word, not Python's
salted ``hash``) so signatures can be cached by content hash and shared between workers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]

_MULT = np.uint64(0x9E3779B97F4A7C15)  # polynomial base for n-gram hashes (odd)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_EMPTY = np.uint32(0xFFFFFFFF)
_SCHEME = "trellis-multiply-shift-32"


def mix64(values: U64) -> U64:
    """SplitMix64's finaliser: spreads structured 64-bit values over all bits (in place safe)."""
    x = values ^ (values >> np.uint64(30))
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


class WordHasher:
    """Maps words to stable 64-bit hashes, caching the words it has seen."""

    def __init__(self, max_cache: int = 2_000_000) -> None:
        self._cache: dict[str, int] = {}
        self._max_cache = max_cache

    def hash_words(self, words: Sequence[str]) -> U64:
        cache = self._cache
        missing = set(words).difference(cache)
        if missing:
            if len(cache) + len(missing) > self._max_cache:
                cache.clear()
                missing = set(words)
            digest = hashlib.blake2b
            for word in missing:
                cache[word] = int.from_bytes(
                    digest(word.encode(), digest_size=8).digest(), "little"
                )
        return np.array([cache[w] for w in words], dtype=np.uint64)


@dataclass(slots=True)
class WordBatch:
    """The word hashes of many records, concatenated; record ``i`` is
    ``hashes[starts[i]:starts[i] + lengths[i]]``."""

    hashes: U64
    lengths: npt.NDArray[np.int64]

    @property
    def starts(self) -> npt.NDArray[np.int64]:
        starts = np.zeros(len(self.lengths), dtype=np.int64)
        np.cumsum(self.lengths[:-1], out=starts[1:])
        return starts

    @classmethod
    def from_words(cls, hasher: WordHasher, records: Sequence[Sequence[str]]) -> WordBatch:
        flat = [word for record in records for word in record]
        lengths = np.fromiter((len(r) for r in records), dtype=np.int64, count=len(records))
        return cls(hasher.hash_words(flat), lengths)


@dataclass(slots=True)
class Grams:
    """Hashes of word n-grams and the record each belongs to (non-decreasing)."""

    hashes: U64
    records: npt.NDArray[np.int64]


def ngrams(batch: WordBatch, n: int, *, short_whole: bool = False) -> Grams:
    """Hashes of every word ``n``-gram inside each record (none crosses a record boundary).

    With ``short_whole`` a non-empty record shorter than ``n`` words yields one hash of all its
    words, so short texts still have something to compare.  The hash depends on ``n``.
    """
    tokens = batch.hashes
    lengths = batch.lengths
    total = len(tokens)
    count = total - n + 1
    salt = np.uint64(n * 0x632BE59BD9B4E019 & 0xFFFFFFFFFFFFFFFF)
    if count > 0:
        acc = tokens[:count].copy()
        for j in range(1, n):
            acc *= _MULT
            acc += tokens[j : count + j]
        acc ^= salt
        hashes = mix64(acc)
        owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)[:count]
        ends = (batch.starts + lengths)[owner]
        keep = np.arange(count, dtype=np.int64) + n <= ends
        hashes, owner = hashes[keep], owner[keep]
    else:
        hashes, owner = np.empty(0, np.uint64), np.empty(0, np.int64)
    if short_whole:
        short = np.flatnonzero((lengths > 0) & (lengths < n))
        if len(short):
            extra_h = np.empty(len(short), dtype=np.uint64)
            starts = batch.starts
            mult, mask = int(_MULT), (1 << 64) - 1
            for k, rec in enumerate(short):
                acc1 = 0
                for value in tokens[starts[rec] : starts[rec] + lengths[rec]].tolist():
                    acc1 = (acc1 * mult + value) & mask
                extra_h[k] = acc1 ^ int(salt)
            hashes = np.concatenate([hashes, mix64(extra_h)])
            owner = np.concatenate([owner, short])
            order = np.argsort(owner, kind="stable")
            hashes, owner = hashes[order], owner[order]
    return Grams(hashes, owner)


class MinHasher:
    """MinHash over 64-bit shingle hashes with ``num_perm`` multiply-shift permutations.

    h_i(x) = (a_i * x + b_i) mod 2^64, top 32 bits: a universal family that numpy evaluates for a
    whole batch of shingles in a few passes.  Signatures are uint32; an empty set is all ones.
    """

    def __init__(self, num_perm: int = 128, seed: int = 1, chunk: int = 512) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.seed = seed
        self._a = rng.integers(1, 1 << 63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._b = rng.integers(0, 1 << 63, num_perm, dtype=np.uint64)
        self._chunk = chunk

    def signatures(self, grams: Grams, n_records: int) -> U32:
        out = np.full((n_records, self.num_perm), _EMPTY, dtype=np.uint32)
        hashes, owner = grams.hashes, grams.records
        if not len(hashes):
            return out
        # Record boundaries in the shingle stream; process whole records a chunk at a time.
        rec_ids, first = np.unique(owner, return_index=True)
        bounds = np.append(first, len(hashes))
        a, b, shift = self._a, self._b, np.uint64(32)
        i = 0
        while i < len(rec_ids):
            # As many whole records as fit in one chunk (at least one).
            j = int(np.searchsorted(bounds, bounds[i] + self._chunk, side="right")) - 1
            j = max(j, i + 1)
            lo, hi = bounds[i], bounds[j]
            values = np.multiply.outer(hashes[lo:hi], a)
            values += b
            # Taking the top 32 bits is monotonic, so it commutes with the minimum: shift the
            # per-record minima, not every value.
            mins = np.minimum.reduceat(values, first[i:j] - lo, axis=0)
            out[rec_ids[i:j]] = mins >> shift
            i = j
        return out


@dataclass(slots=True)
class Sketch:
    """The face a signature shows datasketch's MinHashLSH (hash values, length, scheme)."""

    hashvalues: U32
    scheme: str = _SCHEME

    def __len__(self) -> int:
        return len(self.hashvalues)


def jaccard(a: set[int], b: set[int]) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def sets_by_record(grams: Grams, n_records: int) -> list[set[int]]:
    """Each record's set of n-gram hashes (empty for a record with none)."""
    out: list[set[int]] = [set() for _ in range(n_records)]
    if not len(grams.hashes):
        return out
    ids, first = np.unique(grams.records, return_index=True)
    bounds = np.append(first, len(grams.hashes)).tolist()
    values = grams.hashes.tolist()
    for k, rec in enumerate(ids.tolist()):
        out[rec] = set(values[bounds[k] : bounds[k + 1]])
    return out
