"""The diversity check on real Alpaca rows with real all-MiniLM-L6-v2 embeddings.

1,200 rows of alpaca_5000.json plus injected copies: exact ones (verbatim, and with case and
spacing changed) and near ones (two words changed in a long row).  About 20 s, mostly embedding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from app.diversity.clusters import kmeans
from app.diversity.scores import DiversityState, dataset_metrics, score
from app.diversity.subset import max_similarity_within, quality_order
from app.diversity.vendi import vendi_score
from app.embeddings.encoder import get_encoder
from app.text.itemtext import message_text
from tests.factories import SHARED_DATA

BASE = 1200


@dataclass
class Injected:
    state: DiversityState
    exact: list[tuple[int, int]]
    """(source row, copy row)"""
    near: list[tuple[int, int]]


def _text(row: dict[str, str]) -> str:
    turns = [{"content": row["instruction"]}, {"content": row["input"]}, {"content": row["output"]}]
    return message_text(turns)


@pytest.fixture(scope="module")
def injected() -> Injected:
    rows = json.loads((SHARED_DATA / "alpaca_5000.json").read_text(encoding="utf-8"))[:BASE]
    texts = [_text(r) for r in rows]
    exact, near = [], []
    for source in (3, 50):
        exact.append((source, len(texts)))
        texts.append(texts[source])
    exact.append((100, len(texts)))
    texts.append("  " + texts[100].upper().replace(" ", "   ") + "\n")
    long_rows = [i for i, t in enumerate(texts[:BASE]) if len(t.split()) >= 120][:4]
    assert len(long_rows) == 4
    for source in long_rows:
        words = texts[source].split()
        words[len(words) // 3] = "zebra"
        words[2 * len(words) // 3] = "lighthouse"
        near.append((source, len(texts)))
        texts.append(" ".join(words))
    vectors = get_encoder().encode(texts)
    return Injected(score(vectors, texts), exact, near)


def test_exact_and_near_duplicates_are_grouped(injected: Injected) -> None:
    state = injected.state
    for source, copy in [*injected.exact, *injected.near]:
        assert state.group_of[copy] >= 0, (source, copy)
        assert state.group_of[copy] == state.group_of[source], (source, copy)
    exact_groups = [g for g in state.groups if "exact" in g.kinds]
    assert {tuple(g.members) for g in exact_groups} >= set(injected.exact)
    # A near copy is linked lexically (Jaccard >= 0.8), not just by embedding.
    lexical = set(zip(state.pairs["lexical"].left.tolist(), state.pairs["lexical"].right.tolist(),
                      strict=True))  # fmt: skip
    assert set(injected.near) <= lexical
    metrics = dataset_metrics(state)
    assert metrics["near_duplicate_share"] >= len(injected.exact + injected.near) / state.n
    # Alpaca itself repeats little: the groups are (nearly all) the injected ones.
    assert metrics["duplicate_groups"] <= len(injected.exact + injected.near) + 10


def test_vendi_rises_with_distinct_topics_and_falls_with_duplicates(injected: Injected) -> None:
    x = injected.state.vectors[:BASE]
    topics = kmeans(x, 12, seed=0).labels
    narrow = x[np.isin(topics, [0, 1])]
    others = x[np.isin(topics, [4, 5, 6, 7, 8, 9])]
    rng = np.random.default_rng(0)
    added = others[rng.choice(len(others), size=len(narrow), replace=False)]
    base = vendi_score(narrow)
    assert vendi_score(np.concatenate([narrow, added])) > base * 1.3
    copies = np.repeat(narrow[:20], 5, axis=0)  # duplicates embed identically
    assert vendi_score(np.concatenate([narrow, copies])) < base
    # The same on the whole set: a few injected copies lower it a little.
    sources = [source for source, _ in injected.exact]
    assert vendi_score(np.concatenate([x, x[sources]])) < vendi_score(x)


def test_diverse_subset_at_tau_0_9(injected: Injected) -> None:
    state = injected.state
    kept = state.subset(quality_order(state.n), tau=0.9)
    assert 0 < len(kept) < state.n
    assert max_similarity_within(state.vectors, kept) <= 0.9
    kept_set = set(kept.tolist())
    for source, copy in injected.exact:
        assert not {source, copy} <= kept_set
    limited = state.subset(quality_order(state.n), target=300, tau=0.9)
    assert len(limited) == 300 and limited.tolist() == kept.tolist()[:300]
