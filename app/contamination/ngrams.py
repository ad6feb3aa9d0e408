"""Containment: the share of an eval text's word n-grams found in a training text.

An eval text buried inside a longer training prompt has a low Jaccard similarity to it but a
containment near 1.  The index keeps, for each n in use, the sorted distinct n-gram hashes of the
eval segments and a posting list per hash; a batch of training records is matched with one
``searchsorted`` per n, so only the (rare) hits reach Python.  ``n`` shrinks for short eval
texts (:func:`gram_size`), so a 10-word question still has n-grams to find.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.text.sketch import WordBatch, ngrams

MIN_WORDS = 6
"""Eval texts shorter than this are too generic for containment (MinHash covers exact copies)."""


def gram_size(n_words: int) -> int:
    """The n-gram length used for an eval text of ``n_words`` words."""
    if n_words < 12:
        return 3
    if n_words < 25:
        return 4
    if n_words < 60:
        return 5
    return 6


@dataclass(slots=True)
class ContainmentHits:
    """(training record, eval segment) pairs with their containment, for pairs that share any
    n-gram and reach the query's minimum."""

    records: npt.NDArray[np.int64]
    segments: npt.NDArray[np.int64]
    containment: npt.NDArray[np.float64]


@dataclass(slots=True)
class _Table:
    keys: npt.NDArray[np.uint64]  # sorted distinct n-gram hashes
    post_start: npt.NDArray[
        np.int64
    ]  # postings of keys[i]: post_seg[post_start[i]:post_start[i+1]]
    post_seg: npt.NDArray[np.int64]


class ContainmentIndex:
    """Word n-gram index over eval segments (each segment indexed with its own n)."""

    def __init__(self, segments: WordBatch) -> None:
        lengths = segments.lengths
        self.n_segments = len(lengths)
        self.sizes = np.array([gram_size(int(n)) for n in lengths], dtype=np.int64)
        self.totals = np.zeros(self.n_segments, dtype=np.int64)
        self._tables: dict[int, _Table] = {}
        indexed = lengths >= MIN_WORDS
        for n in sorted(set(self.sizes[indexed].tolist())):
            grams = ngrams(segments, n)
            keep = (self.sizes[grams.records] == n) & indexed[grams.records]
            hashes, owners = grams.hashes[keep], grams.records[keep]
            # distinct (segment, gram) pairs
            pairs = np.unique(np.stack([owners.astype(np.uint64), hashes]), axis=1)
            owners, hashes = pairs[0].astype(np.int64), pairs[1]
            self.totals += np.bincount(owners, minlength=self.n_segments)
            order = np.argsort(hashes, kind="stable")
            hashes, owners = hashes[order], owners[order]
            keys, first = np.unique(hashes, return_index=True)
            self._tables[n] = _Table(keys, np.append(first, len(hashes)), owners)

    @property
    def gram_sizes(self) -> Sequence[int]:
        return list(self._tables)

    def query(self, batch: WordBatch, min_containment: float) -> ContainmentHits:
        records: list[npt.NDArray[np.int64]] = []
        segs: list[npt.NDArray[np.int64]] = []
        for n, table in self._tables.items():
            grams = ngrams(batch, n)
            if not len(grams.hashes) or not len(table.keys):
                continue
            pos = np.searchsorted(table.keys, grams.hashes)
            pos[pos == len(table.keys)] = 0
            hit = table.keys[pos] == grams.hashes
            if not hit.any():
                continue
            # distinct (record, key) hits, then every segment posting under each key
            pairs = np.unique(np.stack([grams.records[hit], pos[hit]]), axis=1)
            rec, key = pairs[0], pairs[1]
            start, stop = table.post_start[key], table.post_start[key + 1]
            counts = stop - start
            rec_rep = np.repeat(rec, counts)
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            records.append(rec_rep)
            segs.append(table.post_seg[np.repeat(start, counts) + offsets])
        if not records:
            empty = np.empty(0, np.int64)
            return ContainmentHits(empty, empty, np.empty(0, np.float64))
        rec_all = np.concatenate(records)
        seg_all = np.concatenate(segs)
        pair_key = rec_all * self.n_segments + seg_all
        uniq, counts = np.unique(pair_key, return_counts=True)
        rec_u, seg_u = uniq // self.n_segments, uniq % self.n_segments
        containment = counts / np.maximum(self.totals[seg_u], 1)
        keep = containment >= min_containment
        return ContainmentHits(rec_u[keep], seg_u[keep], containment[keep])


def containment_of(eval_words: Sequence[str], train_words: Sequence[str]) -> float:
    """Exact containment of one eval text in one training text (same n as the index)."""
    if len(eval_words) < MIN_WORDS:
        return 0.0
    n = gram_size(len(eval_words))
    grams = {tuple(eval_words[i : i + n]) for i in range(len(eval_words) - n + 1)}
    found = {tuple(train_words[i : i + n]) for i in range(len(train_words) - n + 1)}
    return len(grams & found) / len(grams) if grams else 0.0
