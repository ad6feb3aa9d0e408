"""Find eval items in training texts: MinHash LSH, n-gram containment and embeddings combined.

An :class:`EvalIndex` is built once per set of frozen eval sets (it is what a worker precomputes
at freeze time and caches); :func:`check` runs a batch of training texts against it:

1. **minhash** — near-verbatim copies.  Word 3-shingle MinHash signatures (128 permutations) go
   through datasketch's ``MinHashLSH`` tuned for recall (threshold 0.5, false negatives weighted
   0.9); every candidate is verified by the exact Jaccard of the shingle sets.
2. **containment** — an eval text inside a longer training text.  The share of the eval text's
   word n-grams found in the training text, n shrinking for short texts; candidates are verified
   by an in-order word alignment, which survives dropped and inserted words.
3. **embedding** — paraphrases.  Top cosine between the training prompt and each eval text
   (all-MiniLM-L6-v2); a candidate is kept only when it also shares the eval text's rare
   content words (:mod:`anchors`), so an honest question on the same topic is not flagged.

Eval items are compared as *segments*: the whole item (all text fields), each field, and, for
multiple-choice-like items, the stem joined with each option — a training row holding only
HumanEval's prompt, or a question with its correct answer, still matches.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from datasketch import MinHashLSH

from app.contamination.align import align
from app.contamination.anchors import AnchorWeights, stems
from app.contamination.ngrams import ContainmentIndex, containment_of
from app.contamination.records import (
    MIN_SEGMENT_WORDS,
    EvalText,
    Flag,
    Segment,
    TrainText,
    embedding_texts,
    segments_of,
)
from app.contamination.rules import lexical_copy, paraphrase
from app.embeddings.types import TextEncoder
from app.text.sketch import (
    MinHasher,
    Sketch,
    WordBatch,
    WordHasher,
    jaccard,
    ngrams,
    sets_by_record,
)
from app.text.words import words

F32 = npt.NDArray[np.float32]

SHINGLE = 3
NUM_PERM = 128
LSH_THRESHOLD = 0.5
LSH_WEIGHTS = (0.1, 0.9)
JACCARD_FLAG = 0.5
CONTAINMENT_CANDIDATE = 0.25
COSINE_CANDIDATE = 0.5
COSINE_TOP_K = 3
"""Fields shorter than this (answer letters, ids) are not segments of their own."""
BATCH = 2048
MIN_ANCHOR_STEMS = 4


class EvalIndex:
    """Everything a check needs about a group of eval sets, computed once."""

    def __init__(
        self,
        items: Sequence[EvalText],
        encoder: TextEncoder | None,
        *,
        lsh_storage: dict[str, Any] | None = None,
        embedding_cache: Callable[[Sequence[str]], F32] | None = None,
    ) -> None:
        self.items = list(items)
        self.model_id = encoder.model_id if encoder is not None else None
        self._hasher = WordHasher()
        self._minhasher = MinHasher(NUM_PERM)
        # Lexical segments.
        segments: list[Segment] = []
        for i, item in enumerate(self.items):
            seen: set[tuple[str, ...]] = set()
            for name, text in segments_of(item.fields):
                seg_words = words(text)
                key = tuple(seg_words)
                if not seg_words or key in seen:
                    continue
                if name != "*" and len(seg_words) < MIN_SEGMENT_WORDS and len(item.fields) > 1:
                    continue
                seen.add(key)
                segments.append(Segment(i, name, seg_words, text))
        self.segments = segments
        batch = WordBatch.from_words(self._hasher, [s.words for s in segments])
        shingles = ngrams(batch, SHINGLE, short_whole=True)
        self._shingle_sets = sets_by_record(shingles, len(segments))
        self._signatures = self._minhasher.signatures(shingles, len(segments))
        self._lsh_storage = lsh_storage
        self.lsh = self._open_lsh()
        self.containment = ContainmentIndex(batch)
        doc_freq: Counter[str] = Counter()
        for i in range(len(self.items)):
            doc_freq.update({w for seg in segments if seg.item == i for w in seg.words})
        n_docs = max(len(self.items), 1)
        self._word_idf = {w: math.log((n_docs + 1) / (df + 1)) + 1.0 for w, df in doc_freq.items()}
        self._word_idf_default = math.log(n_docs + 1) + 1.0
        # Embedded texts, grouped by item (columns of one item are contiguous).
        self._anchor_docs: list[set[str]] = []
        emb_texts: list[str] = []
        emb_items: list[int] = []
        for i, item in enumerate(self.items):
            for text in embedding_texts(item.fields):
                emb_texts.append(text)
                emb_items.append(i)
                self._anchor_docs.append(stems(words(text)))
        self.anchor_weights = AnchorWeights(
            [stems(words("\n".join(item.fields.values()))) for item in self.items]
        )
        self.embedded_texts = emb_texts
        self._emb_items = np.array(emb_items, dtype=np.int64)
        self._emb_first = np.flatnonzero(np.diff(self._emb_items, prepend=-1))
        self._emb_item_ids = self._emb_items[self._emb_first]
        if encoder is None or not emb_texts:
            self.embeddings: F32 | None = None
        elif embedding_cache is not None:
            self.embeddings = embedding_cache(emb_texts)
        else:
            self.embeddings = encoder.encode(emb_texts)
        self.neighbour_cos = self._neighbour_cosines()
        """Per item: its highest cosine to any *other* eval item - how alike the set's items
        are around it.  A training row must be closer than that to count as a paraphrase."""
        self._lock = threading.Lock()

    def _neighbour_cosines(self) -> F32:
        """Per item, the highest cosine between its texts and another item's texts, counting
        only texts with enough content words (two items sharing the option "none of these" are
        not alike)."""
        n_items = len(self.items)
        out = np.zeros(n_items, dtype=np.float32)
        emb = self.embeddings
        if emb is None or n_items < 2:
            return out
        rich = np.array([len(doc) >= MIN_ANCHOR_STEMS for doc in self._anchor_docs])
        cols = np.flatnonzero(rich)
        if not len(cols):
            return out
        col_items = self._emb_items[cols]
        for start in range(0, len(cols), 1024):
            rows = cols[start : start + 1024]
            block = emb[rows] @ emb[cols].T
            block[self._emb_items[rows][:, None] == col_items[None, :]] = -1.0  # same item
            np.maximum.at(out, self._emb_items[rows], block.max(axis=1))
        return out

    def word_weight(self, word: str) -> float:
        return self._word_idf.get(word, self._word_idf_default)

    def _open_lsh(self) -> MinHashLSH:
        """The datasketch LSH index over the segments' signatures: in this process's memory by
        default, or in Redis (``lsh_storage``) so workers on different hosts share one index.
        A Redis index under the same name (the eval set's content hash) is reused as is."""
        lsh = MinHashLSH(
            threshold=LSH_THRESHOLD,
            num_perm=NUM_PERM,
            weights=LSH_WEIGHTS,
            storage_config=self._lsh_storage,
        )
        if self._lsh_storage is not None and lsh.keys.size() == len(self._inserted_keys()):
            return lsh
        with lsh.insertion_session() as session:
            for s in self._inserted_keys():
                session.insert(s, Sketch(self._signatures[s]), check_duplication=False)
        return lsh

    def _inserted_keys(self) -> list[int]:
        return [s for s, shingle_set in enumerate(self._shingle_sets) if shingle_set]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        if self._lsh_storage is not None:
            del state["lsh"]  # a connection; reopened (and refilled if Redis lost it) on load
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        if "lsh" not in state:
            self.lsh = self._open_lsh()

    # -- checking ---------------------------------------------------------------------------

    def check(
        self,
        train: Sequence[TrainText],
        prompt_embeddings: F32 | None = None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> list[Flag]:
        """Flags for ``train`` (indices into it), batch by batch.

        ``prompt_embeddings`` (one row per training text, normalised) enables the paraphrase
        check; without it only the lexical checks run.
        """
        flags: list[Flag] = []
        for start in range(0, len(train), BATCH):
            chunk = train[start : start + BATCH]
            emb = None
            if prompt_embeddings is not None:
                emb = prompt_embeddings[start : start + len(chunk)]
            for flag in self._check_batch(chunk, emb):
                flag.train += start
                flags.append(flag)
            if progress is not None:
                progress(start + len(chunk))
        return flags

    def _check_batch(self, train: Sequence[TrainText], emb: F32 | None) -> list[Flag]:
        train_words = [words(t.text) for t in train]
        with self._lock:  # the word-hash cache is not thread-safe
            batch = WordBatch.from_words(self._hasher, train_words)
        shingles = ngrams(batch, SHINGLE, short_whole=True)
        shingle_sets = sets_by_record(shingles, len(train))
        signatures = self._minhasher.signatures(shingles, len(train))
        found: dict[tuple[int, int], Flag] = {}

        # 1. MinHash LSH, verified by exact Jaccard.
        for r, signature in enumerate(signatures):
            mine = shingle_sets[r]
            if not mine:
                continue
            for s in self.lsh.query(Sketch(signature)):
                theirs = self._shingle_sets[s]
                j = len(mine & theirs) / len(mine | theirs)
                if j >= JACCARD_FLAG:
                    self._note(found, r, s, "minhash", jaccard=j)

        # 2. Containment, verified by alignment.
        hits = self.containment.query(batch, CONTAINMENT_CANDIDATE)
        for r, s, c in zip(
            hits.records.tolist(), hits.segments.tolist(), hits.containment.tolist(), strict=True
        ):
            alignment = align(self.segments[s].words, train_words[r], weight=self.word_weight)
            if lexical_copy(alignment, len(self.segments[s].words)):
                flag = self._note(found, r, s, "containment", containment=c)
                if flag.method == "containment" and (
                    flag.coverage is None or alignment.coverage > flag.coverage
                ):
                    flag.segment = s
                    flag.coverage = alignment.coverage
                    flag.weighted_coverage = alignment.weighted
                    flag.blocks = alignment.blocks

        # 3. Embeddings, verified by anchor words.
        if emb is not None and self.embeddings is not None and len(emb):
            self._embedding_flags(found, train, train_words, emb)

        # Scores every flag should carry, whichever method found it.
        for (r, item), flag in found.items():
            self._complete(flag, r, item, train_words[r], shingle_sets[r], emb)
        return list(found.values())

    def _note(
        self,
        found: dict[tuple[int, int], Flag],
        r: int,
        s: int,
        method: str,
        *,
        jaccard: float | None = None,
        containment: float | None = None,
    ) -> Flag:
        item = self.segments[s].item
        flag = found.get((r, item))
        if flag is None:
            flag = found[(r, item)] = Flag(r, item, method, segment=s)
        if jaccard is not None and (flag.jaccard is None or jaccard > flag.jaccard):
            flag.jaccard = jaccard
            if flag.method != "minhash":
                flag.segment = s
            flag.method = "minhash"
        if containment is not None and (flag.containment is None or containment > flag.containment):
            flag.containment = containment
        return flag

    def _embedding_flags(
        self,
        found: dict[tuple[int, int], Flag],
        train: Sequence[TrainText],
        train_words: list[list[str]],
        emb: F32,
    ) -> None:
        assert self.embeddings is not None
        sims = emb @ self.embeddings.T  # (rows, embedded texts)
        per_item = np.maximum.reduceat(sims, self._emb_first, axis=1)  # (rows, items)
        k = min(COSINE_TOP_K + 1, per_item.shape[1])
        top = np.argpartition(-per_item, k - 1, axis=1)[:, :k]
        for r in range(len(train)):
            prompt_stems: set[str] | None = None
            ranked = sorted(top[r].tolist(), key=lambda c: -per_item[r, c])
            for rank, col in enumerate(ranked[:COSINE_TOP_K]):
                cosine = float(per_item[r, col])
                if cosine < COSINE_CANDIDATE:
                    break
                item = int(self._emb_item_ids[col])
                if prompt_stems is None:
                    prompt_stems = stems(words(train[r].prompt)) | stems(train_words[r])
                anchor = self._anchor_overlap(item, sims[r], prompt_stems)
                other = ranked[1] if rank == 0 and len(ranked) > 1 else ranked[0]
                margin = cosine - float(per_item[r, other]) if other != col else cosine
                gap = cosine - float(self.neighbour_cos[item])
                if paraphrase(cosine, anchor, gap, margin):
                    flag = found.get((r, item))
                    if flag is None:
                        flag = found[(r, item)] = Flag(r, item, "embedding")
                    flag.cosine = cosine
                    flag.anchors = anchor
                    flag.gap = gap
                    flag.margin = margin

    def _anchor_overlap(self, item: int, row_sims: F32, prompt_stems: set[str]) -> float:
        """Anchor overlap with the item's embedded text closest to the prompt, among those with
        enough content words to tell items apart (a three-word option is not a fingerprint)."""
        cols = np.flatnonzero(self._emb_items == item)
        rich = [int(c) for c in cols if len(self._anchor_docs[c]) >= MIN_ANCHOR_STEMS]
        if rich:
            best = max(rich, key=lambda c: float(row_sims[c]))
            doc = self._anchor_docs[best]
        else:
            doc = set().union(*(self._anchor_docs[int(c)] for c in cols))
        return self.anchor_weights.overlap(doc, prompt_stems)

    def _complete(
        self,
        flag: Flag,
        r: int,
        item: int,
        train_words: list[str],
        train_shingles: set[int],
        emb: F32 | None,
    ) -> None:
        segs = [s for s, seg in enumerate(self.segments) if seg.item == item]
        if flag.jaccard is None and train_shingles:
            flag.jaccard = max(
                (jaccard(train_shingles, self._shingle_sets[s]) for s in segs), default=0.0
            )
        if flag.containment is None:
            flag.containment = max(
                (containment_of(self.segments[s].words, train_words) for s in segs), default=0.0
            )
        if flag.cosine is None and emb is not None and self.embeddings is not None:
            cols = np.flatnonzero(self._emb_items == item)
            if len(cols):
                flag.cosine = float(np.max(emb[r] @ self.embeddings[cols].T))
        if segs and (flag.method == "minhash" or not flag.blocks):
            # the spans shown must belong to the segment the flag names
            best = flag.segment if flag.segment >= 0 else segs[0]
            alignment = align(self.segments[best].words, train_words, weight=self.word_weight)
            flag.segment = best
            flag.coverage = alignment.coverage
            flag.weighted_coverage = alignment.weighted
            flag.blocks = alignment.blocks
