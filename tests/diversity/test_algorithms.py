"""The pure diversity algorithms on synthetic vectors and texts (fast, no model)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.diversity.clusters import choose_k, kmeans
from app.diversity.groups import duplicate_groups
from app.diversity.lexical import LexicalIndex
from app.diversity.neighbours import (
    Pairs,
    approximate_neighbours,
    exact_neighbours,
    recall_at_k,
    replace_row,
    usearch_available,
)
from app.diversity.projection import project_2d
from app.diversity.scores import Config, compare, dataset_metrics, item_scores, rescore_one, score
from app.diversity.subset import diverse_subset, max_similarity_within, quality_order
from app.diversity.vendi import gram, replace_in_gram, vendi_from_gram, vendi_score

F32 = npt.NDArray[np.float32]


def unit(x: npt.ArrayLike) -> F32:
    v = np.asarray(x, dtype=np.float32)
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, d: int = 24, centres: int = 6, spread: float = 0.35, seed: int = 0) -> F32:
    """Unit vectors around a few random centres, with some near-copies."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d))
    x = c[rng.integers(centres, size=n)] + spread * rng.standard_normal((n, d))
    x[5] = x[4] + 0.01 * rng.standard_normal(d)  # a near-copy
    x[9] = x[8]  # an exact copy
    return unit(x)


def brute(x: F32, k: int) -> tuple[F32, F32]:
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return sims, np.take_along_axis(sims, order, axis=1)


def all_pairs(sims: F32, threshold: float) -> set[tuple[int, int]]:
    i, j = np.nonzero(np.triu(sims >= threshold, k=1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def pair_set(p: Pairs) -> set[tuple[int, int]]:
    return set(zip(p.left.tolist(), p.right.tolist(), strict=True))


# --- neighbours -------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "block"), [(700, 128), (700, 4096), (300, 77), (3, 2), (1, 8)])
def test_exact_neighbours_match_brute_force(n: int, block: int) -> None:
    x = clustered(max(n, 10))[:n]
    nb = exact_neighbours(x, k=10, threshold=0.8, block=block)
    k = min(10, n - 1)
    sims, top = brute(x, k)
    assert nb.indices.shape == (n, k)
    np.testing.assert_allclose(nb.sims, top, atol=1e-5)
    # Listed indices carry the similarity they claim, and never the row itself.
    if k:
        np.testing.assert_allclose(np.take_along_axis(sims, nb.indices, axis=1), nb.sims, atol=1e-5)
        assert not (nb.indices == np.arange(n)[:, None]).any()
    assert pair_set(nb.pairs) == all_pairs(sims, 0.8)
    assert (nb.pairs.left < nb.pairs.right).all()
    assert (nb.pairs.sims >= 0.8).all()


def test_replace_row_is_exact() -> None:
    x = clustered(600)
    nb = exact_neighbours(x, k=10, threshold=0.8, block=128)
    rng = np.random.default_rng(1)
    for index, new in [(17, x[300] + 0.02 * rng.standard_normal(x.shape[1])), (4, x[200]),
                       (300, -x[300])]:  # fmt: skip
        x[index] = unit(new)
        changed = replace_row(nb, x, index)
        assert index in changed
        sims, top = brute(x, 10)
        np.testing.assert_allclose(nb.sims, top, atol=1e-5)
        np.testing.assert_allclose(np.take_along_axis(sims, nb.indices, axis=1), nb.sims, atol=1e-5)
        assert pair_set(nb.pairs) == all_pairs(sims, 0.8)


@pytest.mark.skipif(not usearch_available(), reason="usearch is not installed")
def test_approximate_neighbours_recall() -> None:
    x = clustered(3000, d=48, centres=30)
    exact = exact_neighbours(x, k=10, threshold=0.9)
    approx = approximate_neighbours(x, k=10, threshold=0.9)
    assert not approx.exact
    assert recall_at_k(approx.indices, exact.indices) >= 0.95
    assert pair_set(approx.pairs) <= pair_set(exact.pairs)
    assert (approx.pairs.sims >= 0.9).all()


# --- duplicate groups -------------------------------------------------------------------


def test_duplicate_groups_join_chains_and_name_kinds() -> None:
    pairs = {
        "exact": Pairs(np.array([0]), np.array([1]), np.array([1.0], np.float32)),
        "lexical": Pairs(np.array([1]), np.array([4]), np.array([0.85], np.float32)),
        "semantic": Pairs(np.array([6, 2]), np.array([7, 4]), np.array([0.97, 0.96], np.float32)),
    }
    groups, group_of = duplicate_groups(9, pairs)
    assert [g.members for g in groups] == [[0, 1, 2, 4], [6, 7]]
    assert groups[0].kinds == ["exact", "lexical", "semantic"]
    assert groups[1].kinds == ["semantic"]
    assert groups[1].max_similarity == pytest.approx(0.97)
    assert group_of.tolist() == [0, 0, 0, -1, 0, -1, 1, 1, -1]


LONG = (
    "The committee met on Tuesday to review the annual budget for the public library system, "
    "and after a long discussion about staffing, opening hours, the children's reading "
    "programme and the cost of replacing the roof of the central branch, it agreed to ask the "
    "city council for a modest increase that would keep every branch open on Saturdays."
)


def test_lexical_index_finds_exact_and_near_copies_only() -> None:
    words = LONG.split()
    near = " ".join(["Our", *words[1:20], "quickly", *words[21:]])
    texts = [
        LONG,
        "Write a haiku about autumn leaves falling on a quiet pond.",
        LONG.upper().replace(",", " ,"),  # same words: an exact copy
        near,  # two words changed
        "Explain how a bicycle gear system works to a ten year old child, step by step.",
        " ".join(words[:25]),  # a shorter excerpt: not a near copy
        "",
        "",
    ]
    index = LexicalIndex.build(texts)
    assert pair_set(index.exact_pairs()) == {(0, 2), (6, 7)}
    lexical = index.lexical_pairs(texts)
    assert pair_set(lexical) == {(0, 3)}
    assert (lexical.sims >= 0.8).all()
    # One edited text re-checked against the others.
    texts[4] = LONG + " Thanks."
    index.replace(4, texts[4])
    exact, near_pairs = index.pairs_with(4, texts)
    assert len(exact) == 0
    assert pair_set(near_pairs) == {(0, 4), (2, 4), (3, 4)}


# --- clusters, Vendi, projection --------------------------------------------------------


def test_choose_k_rule() -> None:
    assert [choose_k(n) for n in (0, 1, 2, 8, 1500, 50_000)] == [0, 1, 1, 2, 27, 158]
    assert choose_k(10_000_000) == 512


def test_kmeans_recovers_separated_clusters_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    centres = np.eye(16)[:4] * 5
    truth = rng.integers(4, size=400)
    x = unit(centres[truth] + 0.3 * rng.standard_normal((400, 16)))
    a = kmeans(x, 4, seed=7)
    b = kmeans(x, 4, seed=7)
    assert np.array_equal(a.labels, b.labels)
    assert sorted(a.sizes.tolist()) == sorted(np.bincount(truth).tolist())
    for c in range(4):  # each found cluster is one true cluster
        assert len(set(truth[a.labels == c].tolist())) == 1
    assert a.sizes.tolist() == sorted(a.sizes.tolist(), reverse=True)
    label, sim = a.nearest(x[0])
    assert label == a.labels[0] and sim > 0.9
    assert kmeans(x[:1]).labels.tolist() == [0]


def test_vendi_score_bounds_and_dual_form() -> None:
    assert vendi_score(np.eye(5, 8, dtype=np.float32)) == pytest.approx(5.0)
    assert vendi_score(np.tile(unit([1.0, 2.0, 3.0]), (10, 1))) == pytest.approx(1.0)
    x = clustered(60, d=8)
    kernel = x @ x.T / len(x)
    eig = np.linalg.eigvalsh(kernel.astype(np.float64))
    eig = eig[eig > 1e-12]
    primal = float(np.exp(-np.sum(eig * np.log(eig))))
    assert vendi_score(x) == pytest.approx(primal, rel=1e-5)
    g = gram(x)
    new = unit(np.arange(8.0))
    replace_in_gram(g, x[3], new)
    x[3] = new
    assert vendi_from_gram(g, len(x)) == pytest.approx(vendi_score(x), rel=1e-9)


def test_pca_map_is_deterministic_and_separates() -> None:
    x = unit(np.concatenate([np.tile([5.0, 0, 0, 0], (20, 1)), np.tile([0, 5.0, 0, 0], (20, 1))])
             + np.random.default_rng(0).standard_normal((40, 4)) * 0.1)  # fmt: skip
    a, b = project_2d(x), project_2d(x[::-1].copy())
    assert a.coords.shape == (40, 2)
    assert np.allclose(a.coords, b.coords[::-1], atol=1e-4)
    first, second = a.coords[:20, 0], a.coords[20:, 0]
    assert first.max() < second.min() or second.max() < first.min()
    np.testing.assert_allclose(a.project(x[3]), a.coords[3], atol=1e-5)
    with pytest.raises(ValueError, match="unknown projection"):
        project_2d(x, "tsne")


# --- diverse subset ---------------------------------------------------------------------


def test_quality_order_rating_then_score_then_position() -> None:
    order = quality_order(5, [None, 4.0, 5.0, 4.0, 4.0], [0.1, None, 0.0, 0.2, 0.9])
    assert order.tolist() == [2, 4, 3, 1, 0]
    assert quality_order(3).tolist() == [0, 1, 2]


@pytest.mark.parametrize("tau", [0.9, 0.7])
def test_diverse_subset_never_keeps_a_pair_above_tau(tau: float) -> None:
    x = clustered(800, centres=8, spread=0.25)
    nb = exact_neighbours(x, threshold=min(tau, 0.95))
    order = quality_order(len(x), scores=np.random.default_rng(0).random(len(x)).tolist())
    kept = diverse_subset(order, nb.pairs, nb.threshold, tau=tau)
    assert 0 < len(kept) < len(x)
    assert max_similarity_within(x, kept) <= tau
    # Greedy and maximal: every row left out is above tau to some kept row chosen before it.
    rank = np.empty(len(x), dtype=np.int64)
    rank[order] = np.arange(len(x))
    kept_set = set(kept.tolist())
    sims = x @ x[kept].T
    for row in set(range(len(x))) - kept_set:
        blockers = kept[(sims[row] > tau) & (rank[kept] < rank[row])]
        assert len(blockers), row
    assert kept.tolist()[0] == int(order[0])
    limited = diverse_subset(order, nb.pairs, nb.threshold, tau=tau, target=10)
    assert limited.tolist() == kept.tolist()[:10]


def test_diverse_subset_refuses_incomplete_pairs() -> None:
    x = clustered(50)
    nb = exact_neighbours(x, threshold=0.95)
    with pytest.raises(ValueError, match="above tau"):
        diverse_subset(quality_order(50), nb.pairs, nb.threshold, tau=0.9)


# --- scores -----------------------------------------------------------------------------


def texts_for(n: int) -> list[str]:
    return [f"item {i} says {'word ' * (i % 7)}and more about topic {i % 5}" for i in range(n)]


def test_score_and_metrics() -> None:
    x = clustered(400)
    texts = texts_for(400)
    texts[9] = texts[8]
    state = score(x, texts, [2] * 400, Config(clusters=6))
    metrics = dataset_metrics(state)
    assert metrics["n_items"] == 400
    assert metrics["n_clusters"] == 6 and sum(metrics["cluster_sizes"]) == 400
    assert 1 < metrics["vendi_score"] < 24
    assert state.group_of[8] == state.group_of[9] >= 0
    assert state.group_of[4] == state.group_of[5] >= 0  # semantic near-copy
    assert metrics["near_duplicate_share"] > 0
    assert metrics["length"]["turns"]["max"] == 2
    items = item_scores(state)
    assert items[9]["nn"] == 8 and items[9]["nn_similarity"] == pytest.approx(1.0, abs=1e-4)
    assert items[9]["duplicate_group"] == items[8]["duplicate_group"]
    assert 0 <= items[0]["novelty"] <= 2
    assert set(state.timings) >= {"neighbours", "clusters", "vendi"}


def test_rescore_one_matches_a_full_run() -> None:
    x = clustered(500)
    texts = texts_for(500)
    texts[9] = texts[8]
    state = score(x, texts, config=Config(clusters=6))
    before = dataset_metrics(state)
    new_vector = x[100] * 0.999 + 0.001 * x[7]  # a near-copy of row 100
    changed = rescore_one(state, 9, new_vector, "a brand new text about nothing else", 3)
    x2 = x.copy()
    x2[9] = unit(new_vector)
    texts[9] = "a brand new text about nothing else"
    fresh = score(x2, texts, config=Config(clusters=6))
    np.testing.assert_allclose(state.neighbours.sims, fresh.neighbours.sims, atol=1e-5)
    assert pair_set(state.neighbours.pairs) == pair_set(fresh.neighbours.pairs)
    assert [g.members for g in state.groups] == [g.members for g in fresh.groups]
    assert state.group_of[9] == state.group_of[100] >= 0
    assert state.group_of[8] == -1
    assert {8, 9, 100} <= set(changed.tolist())
    after = dataset_metrics(state)
    assert after["vendi_score"] == pytest.approx(fresh.vendi(), abs=1e-3)
    assert state.turns[9] == 3
    moved = compare(before, after)
    assert moved["n_items"]["delta"] == 0
    assert moved["vendi_score"]["delta"] == pytest.approx(
        after["vendi_score"] - before["vendi_score"], abs=1e-6
    )
    assert "length.chars.mean" in moved


def test_score_of_tiny_sets() -> None:
    one = score(unit([[1.0, 0.0]]), ["only"])
    assert item_scores(one)[0]["nn"] is None
    assert dataset_metrics(one)["vendi_score"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="vectors for"):
        score(unit([[1.0, 0.0]]), ["a", "b"])
