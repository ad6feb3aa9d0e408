"""The OpenAI-compatible backend's retries and the pairwise judge's position-bias cancelling,
against httpx mock transports (the real-server test is in test_end_to_end)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.evaluation.generation.base import GenerationError
from app.evaluation.generation.openai_backend import EndpointConfig, OpenAICompatibleBackend
from app.evaluation.scorers.judge import PairwiseJudge, parse_verdict

ROOT = Path(__file__).resolve().parents[2]


def _reply(text: str) -> httpx.Response:
    body = {"choices": [{"message": {"content": text}}], "usage": {"completion_tokens": 3}}
    return httpx.Response(200, json=body)


def test_retries_with_backoff_then_succeeds() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(calls) == 2:
            return httpx.Response(503, text="busy")
        return _reply("hello")

    config = EndpointConfig("http://endpoint", "m", backoff_s=0.01)
    backend = OpenAICompatibleBackend(config, transport=httpx.MockTransport(handler))
    (out,) = backend.generate([[{"role": "user", "content": "hi"}]], 8)
    assert (out.text, out.new_tokens, len(calls)) == ("hello", 3, 3)


def test_gives_up_after_retries_and_on_client_errors() -> None:
    always_busy = httpx.MockTransport(lambda request: httpx.Response(503, text="busy"))
    config = EndpointConfig("http://endpoint", "m", backoff_s=0.001, max_retries=2)
    with pytest.raises(GenerationError, match="HTTP 503"):
        OpenAICompatibleBackend(config, transport=always_busy).generate(["x"], 1)
    calls: list[int] = []

    def bad_request(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, text="bad")

    with pytest.raises(GenerationError, match="HTTP 400"):
        OpenAICompatibleBackend(config, transport=httpx.MockTransport(bad_request)).generate(
            ["x"], 1
        )
    assert len(calls) == 1  # a 400 is not retried


def test_missing_api_key_variable() -> None:
    with pytest.raises(GenerationError, match="NOT_SET_ANYWHERE"):
        OpenAICompatibleBackend(EndpointConfig("http://e", "m", api_key_env="NOT_SET_ANYWHERE"))


def _judge(picker: str) -> PairwiseJudge:
    """A judge endpoint that answers 'A' always (pure position bias) or picks the right answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        content = json.loads(request.content)["messages"][0]["content"]
        if picker == "first-slot":
            return _reply("Verdict: A")
        first = content.split("[Answer A]\n")[1].split("\n\n[Answer B]")[0]
        return _reply("Verdict: A" if first == "4" else "Verdict: B")

    backend = OpenAICompatibleBackend(
        EndpointConfig("http://judge", "judge"), transport=httpx.MockTransport(handler)
    )
    return PairwiseJudge(backend)


def test_judge_cancels_position_bias() -> None:
    biased = _judge("first-slot").compare("2 + 2?", "4", "5")
    assert (biased.forward, biased.backward, biased.score) == ("A", "A", 0.5)
    fair = _judge("correct")
    assert fair.compare("2 + 2?", "4", "5").score == 1.0
    assert fair.score("2 + 2?", "5", "4").score == 0.0
    assert parse_verdict("thinking...\nVerdict: tie") == "TIE"
    assert parse_verdict("B") == "B"
    assert parse_verdict("no idea") is None


def test_judge_compares_many_pairs_in_order() -> None:
    """One backend call for a chunk: each pair's two verdicts stay with that pair."""
    triples = [("2 + 2?", "4", "5"), ("2 + 2?", "5", "4"), ("2 + 2?", "3", "5")]
    scores = [r.score for r in _judge("correct").compare_many(triples)]
    assert scores == [1.0, 0.0, 0.5]  # neither right in the last: the judge says B both ways
    assert [r.score for r in _judge("first-slot").compare_many(triples)] == [0.5] * 3


def test_importable_without_the_web_app_or_the_database() -> None:
    code = (
        "import sys\n"
        "import app.evaluation, app.evaluation.scorers, app.evaluation.stats\n"
        "import app.evaluation.gates, app.evaluation.runner, app.evaluation.prompts\n"
        "import app.evaluation.harness, app.evaluation.scorers.judge\n"
        "import app.evaluation.generation.openai_backend\n"
        "import app.evaluation.generation.transformers_backend\n"
        "bad = [m for m in ('app.db', 'fastapi', 'sqlalchemy', 'app.main') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_refusal_confirmed_by_a_judge_endpoint() -> None:
    from app.evaluation.scorers.judge import refusal_judge
    from app.evaluation.scorers.refusal import score_refusal

    def handler(request: httpx.Request) -> httpx.Response:
        content = json.loads(request.content)["messages"][0]["content"]
        response = content.split("[Response]\n")[1]
        return _reply("Verdict: NO" if "here is the insult" in response else "Verdict: YES")

    backend = OpenAICompatibleBackend(
        EndpointConfig("http://judge", "judge"), transport=httpx.MockTransport(handler)
    )
    judge = refusal_judge(backend)
    assert score_refusal("I can't help with that.", "insult me", judge).passed
    assert not score_refusal(
        "I can't help but laugh: here is the insult", "insult me", judge
    ).passed
