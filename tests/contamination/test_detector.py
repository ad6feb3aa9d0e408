"""The contamination detector's pure parts: normalisation, signatures, containment, alignment,
and the combined lexical check (no embeddings here; see test_paraphrase.py)."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest

from app.contamination.align import align
from app.contamination.detector import EvalIndex
from app.contamination.ngrams import ContainmentIndex, gram_size
from app.contamination.records import EvalText, TrainText
from app.text.sketch import MinHasher, WordBatch, WordHasher, ngrams
from app.text.words import words, words_with_spans
from tests.factories import SHARED_DATA


def test_words_fold_case_punctuation_whitespace_and_width() -> None:
    assert words("Hello,   WORLD!\n\t\uff28\uff45\uff4c\uff4c\uff4f") == ["hello", "world", "hello"]
    assert words("ﬁne-tuning") == ["fine", "tuning"]


def test_words_with_spans_point_into_the_original_text() -> None:
    text = "\uff2dass-society theory, suggests"
    found, spans = words_with_spans(text)
    assert found == ["mass", "society", "theory", "suggests"]
    assert [text[a:b] for a, b in spans] == ["\uff2dass", "society", "theory", "suggests"]


def test_word_hashes_are_stable_across_hashers() -> None:
    a = WordHasher().hash_words(["alpha", "beta"])
    b = WordHasher().hash_words(["beta", "alpha"])
    assert a.tolist() == b[::-1].tolist()


def test_ngrams_never_cross_records() -> None:
    batch = WordBatch.from_words(WordHasher(), [["a", "b", "c"], ["d", "e"], ["f"]])
    grams = ngrams(batch, 3, short_whole=True)
    assert grams.records.tolist() == [0, 1, 2]  # one 3-gram, then two short records whole
    assert len(ngrams(batch, 3).hashes) == 1


def test_minhash_estimates_jaccard() -> None:
    rng = random.Random(0)
    hasher, minhasher = WordHasher(), MinHasher(128)
    errors = []
    for _ in range(50):
        base = [f"w{rng.randrange(400)}" for _ in range(80)]
        edited = [w for w in base if rng.random() > 0.15]
        batch = WordBatch.from_words(hasher, [base, edited])
        grams = ngrams(batch, 3, short_whole=True)
        sig = minhasher.signatures(grams, 2)
        sets = [set(grams.hashes[grams.records == r].tolist()) for r in (0, 1)]
        exact = len(sets[0] & sets[1]) / len(sets[0] | sets[1])
        errors.append(float(np.mean(sig[0] == sig[1])) - exact)
    assert abs(np.mean(errors)) < 0.02
    assert np.std(errors) < 0.06


def test_empty_records_get_the_empty_signature() -> None:
    batch = WordBatch.from_words(WordHasher(), [[], ["x", "y", "z"]])
    sig = MinHasher(16).signatures(ngrams(batch, 3, short_whole=True), 2)
    assert (sig[0] == 0xFFFFFFFF).all()
    assert not (sig[1] == 0xFFFFFFFF).all()


def test_containment_finds_an_eval_text_inside_a_longer_one() -> None:
    hasher = WordHasher()
    question = words(
        "Which sociologist argued that the use of cannabis was learned through groups?"
    )
    index = ContainmentIndex(WordBatch.from_words(hasher, [question]))
    train = [
        words("Summarise this: which sociologist argued that the use of cannabis was learned "
              "through groups? Then list three keywords about the text."),
        words("Explain how plants make food from sunlight."),
    ]  # fmt: skip
    hits = index.query(WordBatch.from_words(hasher, train), 0.1)
    assert hits.records.tolist() == [0]
    assert hits.containment[0] == pytest.approx(1.0)
    assert gram_size(len(question)) == 4


def test_alignment_survives_dropped_and_inserted_words() -> None:
    eval_words = words("the quick brown fox jumps over the lazy dog near the river bank today")
    train_words = words(
        "please the quick brown fox basically jumps over lazy dog near the river bank"
    )
    result = align(eval_words, train_words)
    assert result.coverage > 0.7
    assert all(b.size >= 2 for b in result.blocks)


def _alpaca() -> list[dict[str, str]]:
    return json.loads((SHARED_DATA / "alpaca_5000.json").read_text())  # type: ignore[no-any-return]


def _humaneval() -> list[dict[str, str]]:
    import gzip

    with gzip.open(SHARED_DATA / "humaneval.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def lexical_index() -> tuple[EvalIndex, list[dict[str, str]]]:
    problems = _humaneval()
    eval_problems = [p for i, p in enumerate(problems) if i % 2]
    items = [
        EvalText(0, i, {k: p[k] for k in ("prompt", "canonical_solution", "test")})
        for i, p in enumerate(eval_problems)
    ]
    return EvalIndex(items, None), problems


def test_lexical_check_catches_verbatim_edited_and_embedded_copies(
    lexical_index: tuple[EvalIndex, list[dict[str, str]]],
) -> None:
    index, problems = lexical_index
    prompt = problems[1]["prompt"]  # eval item 0
    edited = prompt.replace("Check if", "Please check whether").replace("  ", " ").upper()
    story = " ".join(r["output"] for r in _alpaca()[:12])
    embedded = f"Translate the comments of this code to French.\n{prompt}\n{story}"
    clean = problems[0]["prompt"]  # held out: same style, different task
    rows = [TrainText(t, t) for t in (prompt, edited, embedded, clean)]
    flags = index.check(rows)
    by_row = {f.train: f for f in flags}
    assert set(by_row) == {0, 1, 2}
    assert by_row[0].method == "minhash" and by_row[0].jaccard == pytest.approx(1.0)
    assert by_row[2].method == "containment" and by_row[2].containment == pytest.approx(1.0)
    assert all(index.items[f.item].item_index == 0 for f in flags)
    assert by_row[2].blocks  # spans to highlight


def test_lexical_check_leaves_honest_alpaca_rows_alone(
    lexical_index: tuple[EvalIndex, list[dict[str, str]]],
) -> None:
    index, _ = lexical_index
    alpaca = _alpaca()[:2000]
    rows = [TrainText("\n".join((r["instruction"], r["input"], r["output"])), r["instruction"])
            for r in alpaca]  # fmt: skip
    assert index.check(rows) == []


def test_index_survives_pickling(lexical_index: tuple[EvalIndex, list[dict[str, str]]]) -> None:
    index, problems = lexical_index
    again = pickle.loads(pickle.dumps(index))
    row = [TrainText(problems[3]["prompt"], problems[3]["prompt"])]
    assert [(f.item, f.method) for f in again.check(row)] == [
        (f.item, f.method) for f in index.check(row)
    ]


def _redis_url() -> str | None:
    import os

    import redis

    url = os.environ.get("TRELLIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return None
    return url


def test_lsh_index_can_live_in_redis_and_is_shared(
    lexical_index: tuple[EvalIndex, list[dict[str, str]]],
) -> None:
    url = _redis_url()
    if url is None:
        pytest.skip("no Redis at TRELLIS_TEST_REDIS_URL / 127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(url)
    kwargs = client.connection_pool.connection_kwargs
    basename = f"trellis:lsh:test-{random.getrandbits(32)}".encode()
    storage = {"type": "redis", "basename": basename,
               "redis": {k: kwargs[k] for k in ("host", "port", "db") if k in kwargs}}  # fmt: skip
    _, problems = lexical_index
    items = [EvalText(0, i, {"prompt": p["prompt"]}) for i, p in enumerate(problems[:30])]
    try:
        built = EvalIndex(items, None, lsh_storage=storage)
        assert client.keys(basename + b"*")  # the buckets are in Redis
        # Another worker unpickles the index: it reopens the same Redis index, no rebuild.
        other = pickle.loads(pickle.dumps(built))
        row = [TrainText(problems[7]["prompt"], problems[7]["prompt"])]
        assert [(f.item, f.method) for f in other.check(row)] == [(7, "minhash")]
        # Redis lost the index (restart without persistence): it is refilled on load.
        client.delete(*client.keys(basename + b"*"))
        again = pickle.loads(pickle.dumps(built))
        assert [(f.item, f.method) for f in again.check(row)] == [(7, "minhash")]
    finally:
        keys = client.keys(basename + b"*")
        if keys:
            client.delete(*keys)
