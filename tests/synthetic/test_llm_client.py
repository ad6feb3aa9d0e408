"""The shared chat client (app/llm) against a real HTTP server on 127.0.0.1: retries on 429/5xx
honouring Retry-After, timeouts, the budget, cancel, bounded concurrency, the key from the
environment."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.llm.client import (
    BudgetExhausted,
    Cancelled,
    ChatClient,
    ChatResult,
    EndpointSettings,
    EndpointUnreachable,
    HTTPStatusError,
    LLMError,
    retry_after,
)
from tests.llm_server import Faults, free_port, scripted_app, serve

HI = [{"role": "user", "content": "hi"}]


def _echo(body: dict[str, Any]) -> str:
    return "echo: " + str(body["messages"][-1]["content"])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Faults]]:
    app, faults = scripted_app(_echo)
    with serve(app) as url:
        yield url, faults


@pytest.fixture
def endpoint(server: tuple[str, Faults]) -> Iterator[tuple[str, Faults]]:
    url, faults = server
    faults.errors.clear()
    faults.latency_s = 0.0
    faults.peak_in_flight = 0
    yield url, faults
    faults.errors.clear()


def _client(url: str, **kw: Any) -> ChatClient:
    kw.setdefault("backoff_s", 0.01)
    return ChatClient(EndpointSettings(url, "m", **kw))


def test_chat_over_http(endpoint: tuple[str, Faults]) -> None:
    url, faults = endpoint
    with _client(url + "/v1/") as client:
        out = client.chat(HI, temperature=0.3, max_tokens=7)
    assert out.text == "echo: hi"
    assert (out.completion_tokens, out.prompt_tokens, out.finish_reason) == (2, 5, "stop")
    assert faults.bodies[-1] == {"model": "m", "messages": HI, "temperature": 0.3, "max_tokens": 7}


def test_retries_429_and_5xx_honouring_retry_after(endpoint: tuple[str, Faults]) -> None:
    url, faults = endpoint
    faults.fail(429, retry_after=0.4)
    faults.fail(503)
    start = len(faults.times)
    with _client(url, backoff_s=0.01) as client:
        assert client.chat(HI).text == "echo: hi"
        assert client.retries == 2
        assert client.budget.requests == 3
    gaps = [b - a for a, b in zip(faults.times[start:], faults.times[start + 1 :], strict=False)]
    assert gaps[0] >= 0.38  # waited what Retry-After asked, not the 10 ms backoff
    assert gaps[1] < 0.3


def test_gives_up_after_retries_and_not_on_400(endpoint: tuple[str, Faults]) -> None:
    url, faults = endpoint
    faults.fail(500, times=3)
    with _client(url, max_retries=2) as client, pytest.raises(HTTPStatusError, match="HTTP 500"):
        client.chat(HI)
    faults.errors.clear()
    faults.fail(400)
    with _client(url) as client:
        with pytest.raises(HTTPStatusError, match="HTTP 400") as caught:
            client.chat(HI)
        assert caught.value.status == 400 and client.budget.requests == 1


def test_timeout_is_retried_then_answers(endpoint: tuple[str, Faults]) -> None:
    url, faults = endpoint
    faults.stall(1.0)
    with _client(url, timeout_s=0.3) as client:
        assert client.chat(HI).text == "echo: hi"
        assert client.retries == 1


def test_unreachable_endpoint_fails_clearly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with _client(url, max_retries=1) as client, pytest.raises(EndpointUnreachable) as caught:
        client.chat(HI)
    assert "127.0.0.1" in str(caught.value) and "2 attempts" in str(caught.value)


def test_request_and_token_budgets_stop_sending(endpoint: tuple[str, Faults]) -> None:
    url, faults = endpoint
    before = len(faults.bodies)
    with _client(url, max_requests=3) as client:
        results = list(client.map(lambda i: client.chat(HI), range(10), concurrency=2))
    answered = [r for _, r in results if not isinstance(r, LLMError)]
    assert len(answered) == 3 and len(faults.bodies) - before == 3
    assert all(isinstance(r, BudgetExhausted) for _, r in results if isinstance(r, LLMError))
    with _client(url, max_tokens=14) as client:  # 7 tokens a call (5 prompt + 2 completion)
        client.chat(HI)
        client.chat(HI)
        with pytest.raises(BudgetExhausted, match="token budget"):
            client.chat(HI)


def test_retries_count_against_the_request_budget(endpoint: tuple[str, Faults]) -> None:
    url, faults = endpoint
    faults.fail(503, times=2)
    with _client(url, max_requests=2) as client, pytest.raises(BudgetExhausted):
        client.chat(HI)


def test_cancel_stops_new_requests_and_backoff_waits(endpoint: tuple[str, Faults]) -> None:
    url, faults = endpoint
    faults.fail(429, retry_after=20)
    cancel = threading.Event()
    client = ChatClient(EndpointSettings(url, "m"), cancel=cancel)
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        client.chat(HI)
    assert time.monotonic() - started < 5
    with pytest.raises(Cancelled):
        client.chat(HI)
    client.close()


def test_map_is_bounded_and_faster_than_sequential(endpoint: tuple[str, Faults]) -> None:
    url, faults = endpoint
    faults.latency_s = 0.2
    # Counted on the client's side: the server's own count can see the next request arrive
    # before its handler of the last one has returned (the answer is already read by then).
    lock, calls = threading.Lock(), {"now": 0, "peak": 0}

    def ask(i: int) -> ChatResult:
        with lock:
            calls["now"] += 1
            calls["peak"] = max(calls["peak"], calls["now"])
        try:
            return client.chat([{"role": "user", "content": str(i)}])
        finally:
            with lock:
                calls["now"] -= 1

    with _client(url, concurrency=4) as client:
        started = time.monotonic()
        out = dict(client.map(ask, range(12)))
        took = time.monotonic() - started
    assert {i: r.text for i, r in out.items() if not isinstance(r, LLMError)} == {
        i: f"echo: {i}" for i in range(12)
    }
    assert calls["peak"] == 4
    assert faults.peak_in_flight >= 4  # they were at the server together
    assert took < 12 * 0.2 * 0.75  # 3 waves of 0.2 s (0.6 s), far from 12 in a row (2.4 s)


def test_api_key_from_the_named_environment_variable(
    endpoint: tuple[str, Faults], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = endpoint
    with pytest.raises(LLMError, match="TRELLIS_TEST_UNSET_KEY is not set"):
        ChatClient(EndpointSettings(url, "m", api_key_env="TRELLIS_TEST_UNSET_KEY"))
    monkeypatch.setenv("TRELLIS_TEST_KEY", "sekrit")
    client = ChatClient(EndpointSettings(url, "m", api_key_env="TRELLIS_TEST_KEY"))
    assert client.client.headers["authorization"] == "Bearer sekrit"
    client.close()


def test_retry_after_parsing() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(None) is None and retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 10) == 10.0
