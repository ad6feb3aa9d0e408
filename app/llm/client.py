"""One client for every OpenAI-compatible chat endpoint (vLLM, TGI, Ollama, llama.cpp server, a
hosted API): the evaluation backend and the synthetic generators both talk through it.

What it adds over a bare ``httpx.post``:

* **Retries** on transport errors, timeouts, 408/409/425/429 and 5xx, with exponential backoff
  (capped), honouring a ``Retry-After`` header (seconds or an HTTP date) when the server sends
  one. A 4xx other than those is the caller's mistake and fails at once.
* **A budget**: at most ``max_requests`` HTTP requests (retries count: they cost) and
  ``max_tokens`` tokens (prompt + completion, from ``usage``), shared by every thread; the call
  that would go over raises :class:`BudgetExhausted` instead of sending.
* **Cancel**: a ``threading.Event``; set, no new request starts and a backoff wait ends early
  with :class:`Cancelled`.
* **Bounded concurrency**: :meth:`ChatClient.map` runs at most ``concurrency`` requests at once
  and stops handing out work once cancelled or out of budget.
* The API key is read from the environment variable *named* in the settings, never passed in or
  stored; a name that is not set fails before any request.

No web framework and no database: importable on a GPU host or in a script.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

T = TypeVar("T")
R = TypeVar("R")


class LLMError(RuntimeError):
    """The endpoint could not give an answer (after retries, or a request it refused)."""


class EndpointUnreachable(LLMError):
    """Connection refused, DNS failure or timeouts on every attempt."""


class HTTPStatusError(LLMError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class BudgetExhausted(LLMError):
    """The request or token budget is spent: nothing more is sent."""


class Cancelled(LLMError):
    """The caller cancelled: nothing more is sent."""


@dataclass(frozen=True)
class EndpointSettings:
    base_url: str
    model: str
    api_key_env: str | None = None
    """Name of the environment variable holding the key (the key itself is never stored)."""
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    """Cap on one wait, also on what a Retry-After header asks for."""
    concurrency: int = 8
    max_requests: int | None = None
    max_tokens: int | None = None


@dataclass
class Budget:
    """Requests and tokens spent, shared by the threads of one client (thread-safe)."""

    max_requests: int | None = None
    max_tokens: int | None = None
    requests: int = 0
    tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_request(self) -> None:
        with self._lock:
            if self.max_requests is not None and self.requests >= self.max_requests:
                raise BudgetExhausted(f"request budget of {self.max_requests} spent")
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                raise BudgetExhausted(f"token budget of {self.max_tokens} spent")
            self.requests += 1

    def add_tokens(self, count: int) -> None:
        with self._lock:
            self.tokens += count

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return (self.max_requests is not None and self.requests >= self.max_requests) or (
                self.max_tokens is not None and self.tokens >= self.max_tokens
            )


@dataclass(frozen=True)
class ChatResult:
    text: str
    completion_tokens: int
    prompt_tokens: int
    finish_reason: str | None
    seconds: float


def api_base(url: str) -> str:
    """``http://host:8000`` or ``http://host:8000/v1`` -> ``http://host:8000/v1``."""
    base = url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class ChatClient:
    def __init__(
        self,
        settings: EndpointSettings,
        *,
        cancel: threading.Event | None = None,
        budget: Budget | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.cancel = cancel or threading.Event()
        self.budget = budget or Budget(settings.max_requests, settings.max_tokens)
        headers = {}
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise LLMError(f"environment variable {settings.api_key_env} is not set")
            headers["Authorization"] = f"Bearer {key}"
        size = max(1, settings.concurrency)
        self.client = httpx.Client(
            base_url=api_base(settings.base_url),
            headers=headers,
            timeout=settings.timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        )
        self._lock = threading.Lock()
        self.retries = 0
        """Retried attempts so far (all threads), for reports."""

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, seconds: float) -> None:
        if self.cancel.wait(min(seconds, self.settings.max_backoff_s)):
            raise Cancelled("cancelled")

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST JSON with retries; the decoded answer, or an :class:`LLMError`."""
        delay = self.settings.backoff_s
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            if self.cancel.is_set():
                raise Cancelled("cancelled")
            self.budget.take_request()
            last = attempt == attempts - 1
            wait_s = delay
            try:
                response = self.client.post(path, json=dict(body))
            except httpx.TransportError as error:
                if last:
                    where = self.client.base_url.join(path)
                    raise EndpointUnreachable(
                        f"{where}: {type(error).__name__}: {error or 'no answer'} "
                        f"(after {attempts} attempts)"
                    ) from error
            else:
                status = response.status_code
                if status < 400:
                    try:
                        data: dict[str, Any] = response.json()
                    except ValueError as error:
                        raise LLMError(f"{path}: the endpoint's answer is not JSON") from error
                    return data
                if status not in RETRY_STATUSES or last:
                    raise HTTPStatusError(f"{path}: HTTP {status}: {response.text[:500]}", status)
                asked = retry_after(response.headers.get("retry-after"))
                if asked is not None:
                    wait_s = asked
            with self._lock:
                self.retries += 1
            self._wait(wait_s)
            delay = min(delay * 2, self.settings.max_backoff_s)
        raise LLMError(f"{path}: no response")  # pragma: no cover - the loop returns or raises

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [dict(m) for m in messages],
        }
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        body.update(extra or {})
        started = time.perf_counter()
        data = self.post("/chat/completions", body)
        usage = data.get("usage") or {}
        completion = int(usage.get("completion_tokens") or 0)
        prompt = int(usage.get("prompt_tokens") or 0)
        self.budget.add_tokens(completion + prompt)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as error:
            raise LLMError("/chat/completions: the answer has no choices[0].message") from error
        return ChatResult(
            str(text), completion, prompt, choice.get("finish_reason"),
            time.perf_counter() - started,
        )  # fmt: skip

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], concurrency: int | None = None
    ) -> Iterator[tuple[T, R | LLMError]]:
        """Run ``fn`` over ``items``, at most ``concurrency`` at once, yielding ``(item, result
        or LLMError)`` as each finishes. Stops taking new items once cancelled or out of
        budget (those in flight finish); other exceptions propagate."""
        size = max(1, concurrency or self.settings.concurrency)
        source = iter(items)
        with ThreadPoolExecutor(max_workers=size, thread_name_prefix="llm") as pool:
            running: dict[Future[R], T] = {}

            def fill() -> None:
                while len(running) < size and not self.stopped:
                    item = next(source, _END)
                    if item is _END:
                        return
                    running[pool.submit(fn, item)] = item

            fill()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                finished = [(running.pop(future), future) for future in done]
                fill()  # the next requests go out before the caller works on these answers
                for item, future in finished:
                    error = future.exception()
                    if error is None:
                        yield item, future.result()
                    elif isinstance(error, LLMError):
                        yield item, error
                    else:
                        raise error

    @property
    def stopped(self) -> bool:
        return self.cancel.is_set() or self.budget.exhausted


_END: Any = object()
