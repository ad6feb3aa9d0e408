"""Real OpenAI-compatible servers for tests and benchmarks, on 127.0.0.1 with uvicorn.

``serve(app)`` runs any FastAPI app on a free port. ``scripted_app(reply)`` answers
``/v1/chat/completions`` with ``reply(body)``; :class:`Faults` scripts what a real endpoint does
under load (a queue of error statuses with optional ``Retry-After``, a fixed latency, a stall
longer than the client's timeout) and logs every request. The model-serving app in
``tests/evaluation/openai_server.py`` takes the same :class:`Faults`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse


@dataclass
class Faults:
    latency_s: float = 0.0
    """Every answer waits this long first (asynchronously: requests overlap)."""
    errors: deque[tuple[int, float | None, float]] = field(default_factory=deque)
    """(status, Retry-After seconds or None, stall seconds) answered to the next requests."""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0

    def fail(
        self, status: int, times: int = 1, retry_after: float | None = None, stall_s: float = 0
    ) -> None:
        self.errors.extend([(status, retry_after, stall_s)] * times)

    def stall(self, seconds: float, times: int = 1) -> None:
        """The next requests hang this long, then answer normally (a client timeout)."""
        self.fail(0, times, stall_s=seconds)


def add_faults(app: FastAPI, faults: Faults) -> None:
    @app.middleware("http")
    async def scripted(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        faults.times.append(time.monotonic())
        faults.in_flight += 1
        faults.peak_in_flight = max(faults.peak_in_flight, faults.in_flight)
        try:
            if faults.errors:
                status, retry_after, stall_s = faults.errors.popleft()
                if stall_s:
                    await asyncio.sleep(stall_s)
                if status:
                    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
                    return JSONResponse({"error": "scripted"}, status, headers=headers)
            if faults.latency_s:
                await asyncio.sleep(faults.latency_s)
            return await call_next(request)
        finally:
            faults.in_flight -= 1


def scripted_app(
    reply: Callable[[dict[str, Any]], str], faults: Faults | None = None
) -> tuple[FastAPI, Faults]:
    """A chat endpoint whose answer to each request is ``reply(body)``."""
    faults = faults or Faults()
    app = FastAPI()
    add_faults(app, faults)

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> dict[str, Any]:
        faults.bodies.append(body)
        text = reply(body)
        message = {"role": "assistant", "content": text}
        usage = {"prompt_tokens": 5, "completion_tokens": len(text.split())}
        return {
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }

    return app, faults


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free 127.0.0.1 port; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
