"""The generators without the database, against the scripted model over real HTTP: the
ROUGE-L pool filter, Self-Instruct's filters, Evol-Instruct's elimination rules, pair
candidates' two temperatures and random sides, the budget and cancel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.llm.client import ChatClient, EndpointSettings
from app.synthetic import candidates, generate, rules
from app.synthetic.generate import Sampling, Seed
from app.synthetic.rouge import RougePool, lcs_length, rouge_l
from app.synthetic.templates import BUILTIN
from tests.llm_server import Faults
from tests.synthetic.server import Model, model_server

TEMPLATES = {name: (text, 0) for name, text in BUILTIN.items()}
SAMPLING = Sampling(0.7, 64)
SEEDS = [Seed(1, "Explain how volcanoes erupt"), Seed(2, "Write a haiku about autumn rain")]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Faults, Model]]:
    with model_server() as running:
        yield running


def _client(url: str, **kw: Any) -> ChatClient:
    kw.setdefault("concurrency", 2)
    return ChatClient(EndpointSettings(url, "scripted", backoff_s=0.01, **kw))


def test_rouge_l_matches_the_lcs_by_hand() -> None:
    a, b = ["the", "cat", "sat", "on", "the", "mat"], ["the", "cat", "lay", "on", "a", "mat"]
    assert lcs_length(a, b) == 4  # the cat on mat
    assert rouge_l(a, b) == pytest.approx(4 / 6)
    assert rouge_l(a, a) == 1.0 and rouge_l(a, []) == 0.0


def test_rouge_pool_keeps_only_novel_instructions() -> None:
    pool = RougePool(["Explain how volcanoes erupt", "Write a haiku about autumn rain"])
    assert pool.add_if_novel("explain how volcanoes erupt!")[0] is False  # case, punctuation
    assert pool.add_if_novel("Explain how big volcanoes erupt")[0] is False  # 0.91
    kept, score = pool.add_if_novel("Compare two chess openings for beginners")
    assert kept and score < 0.7
    assert pool.add_if_novel("Compare two chess openings for new beginners")[0] is False
    assert len(pool) == 3


def test_self_instruct_rules() -> None:
    assert rules.parse_numbered("1. First task\n2) Second\n   continues\n- third") == [
        "First task", "Second continues", "third",
    ]  # fmt: skip
    assert rules.instruction_problem("Hi there") == "too_short"
    assert rules.instruction_problem("Draw a graph of the data") == "unsupported"
    assert rules.instruction_problem("“Quote me a proverb please") == "bad_start"
    assert rules.instruction_problem("Explain how tides work") is None


def test_evol_rules() -> None:
    assert rules.evolution_problem("Explain tides", "explain TIDES.") == "no_gain"
    assert rules.evolution_problem("Explain tides", "Rewrite the given prompt") == "copied_prompt"
    assert rules.evolution_problem("Explain tides", "Explain tides to a child") is None
    assert rules.response_problem("Sorry, I can't.") == "model_declined"
    assert rules.response_problem("the and of, it.") == "empty_response"
    assert rules.response_problem("Tides follow the moon.") is None
    assert rules.strip_answer("#Rewritten Prompt#: Do X") == "Do X"


def test_self_instruct_over_http(server: tuple[str, Faults, Model]) -> None:
    url, _, _ = server
    pool = [s.instruction for s in SEEDS]
    with _client(url) as client:
        out = generate.self_instruct(client, SEEDS, pool, 5, TEMPLATES, SAMPLING)
    assert len(out.drafts) == 5
    assert all(d.response == f"Answer to: {d.instruction}" for d in out.drafts)
    assert all(set(d.seed_ids) <= {1, 2} and d.seed_ids for d in out.drafts)
    assert out.drafts[0].templates == {"self_instruct": 0, "response": 0}
    # every reply repeats a task of its prompt, asks for an image and has a 1-word task
    assert out.counts["dropped_rouge"] >= 1 and out.counts["dropped_unsupported"] >= 1
    assert out.counts["dropped_too_short"] >= 1
    texts = [d.instruction for d in out.drafts]
    assert all(RougePool(texts[:i] + pool).best(t) < 0.7 for i, t in enumerate(texts))


def test_evol_instruct_eliminates_failed_evolutions(server: tuple[str, Faults, Model]) -> None:
    url, _, _ = server
    parents = [
        Seed(10, "Explain how tides work"),
        Seed(11, "Please copy this sentence"),
        Seed(12, "Politely decline my request"),
    ]
    with _client(url) as client:
        out = generate.evol_instruct(client, parents, [], TEMPLATES, SAMPLING, breadth_share=0)
    assert out.counts["dropped_copied_prompt"] == 1
    assert out.counts["dropped_model_declined"] == 1
    (kept,) = out.drafts
    assert kept.parent_id == 10 and kept.instruction.startswith("Explain how tides work")
    assert kept.detail["evolution"].startswith("depth:")
    assert kept.templates == {"evol_depth": 0, "response": 0}


def test_pair_candidates_answer_each_prompt_at_both_temperatures(
    server: tuple[str, Faults, Model],
) -> None:
    turns = [
        {"role": "user", "content": "Explain tides"},
        {"role": "assistant", "content": "The moon."},
        {"role": "user", "content": "Why twice?"},
        {"role": "assistant", "content": "Two bulges."},
    ]
    assert candidates.prompt_turns(turns) == turns[:3]
    assert candidates.prompt_turns([{"role": "system", "content": "Be brief."}]) is None
    assert candidates.same_text("Answer to:  x\n", " Answer to: x")
    assert not candidates.same_text("Answer to: x", "Answer to: y")
    url, _, _ = server
    targets = [
        (n, [{"role": "user", "content": f"Explain topic {n}, sample me"}]) for n in range(8)
    ]
    targets.append((99, [{"role": "user", "content": "Say hi, always the same"}]))
    with _client(url) as client:
        out = candidates.pair_candidates(client, targets, TEMPLATES, (0.2, 1.4), 64)
    assert out.counts["generated"] == 9 and out.counts["dropped_identical_samples"] == 1
    assert len(out.pairs) == 8 and not out.drafts
    for pair in out.pairs:
        assert sorted(pair.samples) == [0.2, 1.4] and set(pair.sides) == {0.2, 1.4}
        assert pair.chosen.endswith(f"temperature {pair.sides[0]})")
        assert pair.rejected.endswith(f"temperature {pair.sides[1]})")
        assert pair.templates == {"response": 0}
    # the sides are drawn at random: neither temperature is always the one stored as chosen
    assert {pair.sides for pair in out.pairs} == {(0.2, 1.4), (1.4, 0.2)}


def test_budget_stops_generation_and_keeps_what_it_paid_for(
    server: tuple[str, Faults, Model],
) -> None:
    url, faults, _ = server
    before = len(faults.bodies)
    with _client(url, max_requests=3) as client:
        out = generate.self_instruct(client, SEEDS, [], 1000, TEMPLATES, SAMPLING)
    assert out.stopped == "budget"
    assert len(faults.bodies) - before == 3
    assert 0 < len(out.drafts) < 1000
    assert all(d.response is None for d in out.drafts)  # they land as drafts needing one


def test_cancel_from_progress_stops_the_requests(server: tuple[str, Faults, Model]) -> None:
    url, faults, _ = server

    class Stop(Exception):
        pass

    calls = []

    def progress(fraction: float, message: str) -> None:
        calls.append(fraction)
        raise Stop

    faults.latency_s = 0.05
    before = len(faults.bodies)
    try:
        with _client(url) as client, pytest.raises(Stop):
            generate.self_instruct(client, SEEDS, [], 1000, TEMPLATES, SAMPLING, progress=progress)
        assert client.cancel.is_set()
    finally:
        faults.latency_s = 0
    # the two in flight, and at most two more: map refills the free slots before it hands the
    # caller the answers that freed them (both can come back in the same wait)
    assert len(calls) == 1 and len(faults.bodies) - before <= 4


def test_an_unreachable_endpoint_fails_clearly() -> None:
    from tests.llm_server import free_port

    client = _client(f"http://127.0.0.1:{free_port()}", max_retries=0)
    with pytest.raises(generate.EndpointFailed, match="ConnectError"):
        generate.self_instruct(client, SEEDS, [], 5, TEMPLATES, SAMPLING)


def test_near_duplicates_against_the_pool_and_each_other() -> None:
    from app.synthetic.worker import near_duplicates

    base = "the quick brown fox jumps over the lazy dog near the quiet river bank today"
    pool = [base, "an unrelated sentence about baking sourdough bread at home with rye"]
    texts = [
        base.replace("today", "tonight"),  # Jaccard of 3-shingles >= 0.8 with the pool
        "Compare two chess openings for a beginner who likes sharp tactical games",
        "compare two chess openings for a beginner who likes sharp tactical games!",  # exact
        "A fresh question about comet orbits and how astronomers predict their return",
    ]
    assert near_duplicates(pool, texts) == {0, 2}
    assert near_duplicates(pool, []) == set()
