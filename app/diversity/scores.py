"""Per-item and dataset diversity scores from embeddings and texts, and their one-row update.

:func:`score` runs every pass once and returns a :class:`DiversityState`, which holds what a
worker keeps in memory: the unit vectors, neighbour lists, clusters, the Gram matrix XᵀX, the
lexical index and the duplicate pairs.  :func:`rescore_one` updates that state after one row is
edited (exact neighbours, nearest-centroid cluster, a rank-one Vendi update, re-checked
duplicates) in a fraction of a second at 50,000 rows; a full :func:`score` re-fits the clusters
and the map.

Per item: nearest neighbour and its cosine, novelty = 1 - mean cosine of the k = 10 nearest,
cluster, near-duplicate group, lengths (characters, words, turns), map coordinates.
Dataset: Vendi score, clusters and their sizes, near-duplicate share, length statistics;
:func:`compare` gives how each moved since a previous run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from app.diversity.clusters import Clusters, kmeans
from app.diversity.groups import SEMANTIC_THRESHOLD, DuplicateGroup, duplicate_groups
from app.diversity.lexical import LEXICAL_THRESHOLD, LexicalIndex
from app.diversity.neighbours import K, Neighbours, Pairs, neighbours, replace_row
from app.diversity.projection import Projection, project_2d
from app.diversity.subset import TAU, diverse_subset
from app.diversity.vendi import gram, replace_in_gram, vendi_from_gram

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
T = TypeVar("T")


@dataclass(slots=True)
class Config:
    k: int = K
    tau: float = TAU
    """The diverse subset's cosine limit; pairs are collected from min(tau, semantic)."""
    semantic_threshold: float = SEMANTIC_THRESHOLD
    lexical_threshold: float = LEXICAL_THRESHOLD
    clusters: int | None = None
    """None: :func:`app.diversity.clusters.choose_k`."""
    seed: int = 0
    projection: str = "pca"
    neighbour_method: str = "auto"

    @property
    def pair_threshold(self) -> float:
        return min(self.tau, self.semantic_threshold)


@dataclass(slots=True)
class DiversityState:
    config: Config
    vectors: F32
    texts: list[str]
    turns: I64
    chars: I64
    neighbours: Neighbours
    clusters: Clusters
    gram: F64
    lexical: LexicalIndex
    pairs: dict[str, Pairs]
    """Duplicate links by kind: exact, lexical, semantic."""
    groups: list[DuplicateGroup]
    group_of: I64
    projection: Projection
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.vectors)

    @property
    def words(self) -> I64:
        return self.lexical.word_counts

    @property
    def novelty(self) -> F32:
        sims = self.neighbours.sims
        if sims.shape[1] == 0:
            return np.ones(self.n, dtype=np.float32)
        out: F32 = (1.0 - sims.mean(axis=1)).astype(np.float32)
        return out

    def vendi(self) -> float:
        return vendi_from_gram(self.gram, self.n)

    def subset(self, order: I64, target: int | None = None, tau: float | None = None) -> I64:
        nb = self.neighbours
        tau = self.config.tau if tau is None else tau
        return diverse_subset(order, nb.pairs, nb.threshold, tau=tau, target=target)


def normalise(vectors: npt.ArrayLike) -> F32:
    x = np.array(vectors, dtype=np.float32, ndmin=2)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


def score(
    vectors: F32,
    texts: Sequence[str],
    turns: Sequence[int] | None = None,
    config: Config | None = None,
) -> DiversityState:
    """Every diversity pass over ``vectors`` (one per text) and ``texts``."""
    config = config or Config()
    if len(vectors) != len(texts):
        raise ValueError(f"{len(vectors)} vectors for {len(texts)} texts")
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        result = fn()
        timings[name] = time.perf_counter() - start
        return result

    x = normalise(vectors) if len(texts) else np.zeros((0, vectors.shape[-1]), np.float32)
    nb = timed(
        "neighbours",
        lambda: neighbours(x, config.k, config.pair_threshold, method=config.neighbour_method),
    )
    clusters = timed("clusters", lambda: kmeans(x, config.clusters, seed=config.seed))
    g = timed("vendi", lambda: _gram_and_vendi(x))
    lexical = timed("lexical", lambda: LexicalIndex.build(texts))
    pairs = timed(
        "lexical",
        lambda: {
            "exact": lexical.exact_pairs(),
            "lexical": lexical.lexical_pairs(texts, config.lexical_threshold),
        },
    )
    pairs["semantic"] = nb.pairs.at_least(config.semantic_threshold)
    groups, group_of = timed("groups", lambda: duplicate_groups(len(x), pairs))
    projection = timed("projection", lambda: project_2d(x, config.projection, seed=config.seed))
    turns_arr = np.ones(len(texts), np.int64) if turns is None else np.asarray(turns, np.int64)
    chars = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    return DiversityState(config, x, list(texts), turns_arr, chars, nb, clusters, g, lexical,
                          pairs, groups, group_of, projection, timings)  # fmt: skip


def _gram_and_vendi(x: F32) -> F64:
    g = gram(x)
    vendi_from_gram(g, len(x))  # timed with the Gram matrix: what a full run pays
    return g


def rescore_one(
    state: DiversityState,
    index: int,
    new_vector: F32,
    new_text: str,
    new_turns: int | None = None,
) -> I64:
    """Update ``state`` in place after row ``index`` was edited; returns the rows whose scores
    changed (the row, rows whose neighbour lists changed, rows whose duplicate group changed)."""
    new = normalise(new_vector)[0]
    old = state.vectors[index].copy()
    state.vectors[index] = new
    changed = set(replace_row(state.neighbours, state.vectors, index).tolist())
    label, sim = state.clusters.nearest(new)
    state.clusters.labels[index] = label
    state.clusters.similarity[index] = sim
    replace_in_gram(state.gram, old, new)
    state.texts[index] = new_text
    state.chars[index] = len(new_text)
    if new_turns is not None:
        state.turns[index] = new_turns
    state.lexical.replace(index, new_text)
    exact, lexical = state.lexical.pairs_with(index, state.texts, state.config.lexical_threshold)
    state.pairs["exact"] = state.pairs["exact"].without(index).concat(exact)
    state.pairs["lexical"] = state.pairs["lexical"].without(index).concat(lexical)
    state.pairs["semantic"] = state.neighbours.pairs.at_least(state.config.semantic_threshold)
    before = _group_members(state, index)
    state.groups, state.group_of = duplicate_groups(state.n, state.pairs)
    changed.update(before | _group_members(state, index))
    if state.projection.method == "pca":
        state.projection.coords[index] = state.projection.project(new)
    elif state.neighbours.indices.shape[1]:
        state.projection.coords[index] = state.projection.coords[state.neighbours.indices[index, 0]]
    return np.array(sorted(changed), dtype=np.int64)


def _group_members(state: DiversityState, index: int) -> set[int]:
    gid = int(state.group_of[index])
    return {index} if gid < 0 else set(state.groups[gid].members)


def item_scores(state: DiversityState) -> list[dict[str, Any]]:
    """One dict per row (row positions, not file indices)."""
    nb = state.neighbours
    has_nn = nb.indices.shape[1] > 0
    novelty = state.novelty
    coords = state.projection.coords
    items = []
    for i in range(state.n):
        gid = int(state.group_of[i])
        items.append(
            {
                "nn": int(nb.indices[i, 0]) if has_nn else None,
                "nn_similarity": round(float(nb.sims[i, 0]), 4) if has_nn else None,
                "novelty": round(float(novelty[i]), 4),
                "cluster": int(state.clusters.labels[i]),
                "cluster_similarity": round(float(state.clusters.similarity[i]), 4),
                "duplicate_group": gid if gid >= 0 else None,
                "chars": int(state.chars[i]),
                "words": int(state.words[i]),
                "turns": int(state.turns[i]),
                "x": round(float(coords[i, 0]), 4),
                "y": round(float(coords[i, 1]), 4),
            }
        )
    return items


def dataset_metrics(state: DiversityState) -> dict[str, Any]:
    n = state.n
    sizes = state.clusters.sizes
    sizes = sizes[sizes > 0]
    in_groups = sum(len(g.members) for g in state.groups)
    by_kind = {kind: sum(kind in g.kinds for g in state.groups) for kind in state.pairs}
    sims = state.neighbours.sims
    has_nn = sims.shape[1] > 0
    return {
        "n_items": n,
        "vendi_score": round(state.vendi(), 3),
        "n_clusters": len(sizes),
        "cluster_sizes": sorted(sizes.tolist(), reverse=True),
        "largest_cluster_share": round(float(sizes.max()) / n, 4) if n else 0.0,
        "duplicate_groups": len(state.groups),
        "duplicate_groups_by_kind": by_kind,
        "items_in_duplicate_groups": in_groups,
        "near_duplicate_share": round((in_groups - len(state.groups)) / n, 4) if n else 0.0,
        "mean_nn_similarity": round(float(sims[:, 0].mean()), 4) if has_nn and n else None,
        "mean_novelty": round(float(state.novelty.mean()), 4) if n else None,
        "length": {
            "chars": _stats(state.chars),
            "words": _stats(state.words),
            "turns": _stats(state.turns),
        },
        "neighbours": "exact" if state.neighbours.exact else "approximate",
        "k": state.neighbours.indices.shape[1],
        "map": state.projection.method,
    }


def _stats(values: I64) -> dict[str, float]:
    if not len(values):
        return {"mean": 0.0, "median": 0.0, "p90": 0.0, "max": 0.0}
    return {
        "mean": round(float(values.mean()), 1),
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "max": float(values.max()),
    }


def compare(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """How each numeric dataset metric moved: ``{name: {previous, current, delta}}``.

    Nested metrics are named by their path (``length.words.mean``); metrics missing on either
    side are left out.
    """
    before, after = _flatten(previous), _flatten(current)
    return {
        name: {"previous": before[name], "current": value, "delta": round(value - before[name], 6)}
        for name, value in after.items()
        if name in before
    }


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    return out
