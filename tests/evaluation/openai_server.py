"""A small OpenAI-compatible server for tests: FastAPI + uvicorn on 127.0.0.1 serving a tiny
model through the transformers backend (``/v1/chat/completions``, ``/v1/completions`` with
``echo`` + ``logprobs`` for scoring continuations, as vLLM does)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import uvicorn
from fastapi import FastAPI, Header, HTTPException

from app.evaluation.generation.transformers_backend import TransformersBackend


def build_app(backend: TransformersBackend, api_key: str | None = None) -> FastAPI:
    app = FastAPI()
    lock = threading.Lock()  # one generation at a time on the shared model

    def check(authorization: str | None) -> None:
        if api_key is not None and authorization != f"Bearer {api_key}":
            raise HTTPException(401, "bad key")

    def usage(tokens: int) -> dict[str, int]:
        return {"completion_tokens": tokens}

    @app.post("/v1/chat/completions")
    def chat(body: dict[str, Any], authorization: str | None = Header(None)) -> dict[str, Any]:
        check(authorization)
        with lock:
            (out,) = backend.generate([body["messages"]], int(body.get("max_tokens", 16)))
        message = {"role": "assistant", "content": out.text}
        return {"choices": [{"index": 0, "message": message}], "usage": usage(out.new_tokens)}

    @app.post("/v1/completions")
    def complete(body: dict[str, Any], authorization: str | None = Header(None)) -> dict[str, Any]:
        check(authorization)
        prompt = str(body["prompt"])
        if body.get("echo") and int(body.get("max_tokens", 16)) == 0:
            with lock:
                return {
                    "choices": [{"index": 0, "text": prompt, "logprobs": _echo(backend, prompt)}]
                }
        with lock:
            (out,) = backend.generate([prompt], int(body.get("max_tokens", 16)))
        return {"choices": [{"index": 0, "text": out.text}], "usage": usage(out.new_tokens)}

    return app


def _echo(backend: TransformersBackend, prompt: str) -> dict[str, Any]:
    encoded = backend.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    ids = torch.tensor([encoded["input_ids"]])
    with torch.inference_mode():
        logprobs = torch.log_softmax(backend.model(input_ids=ids).logits[0].float(), dim=-1)
    values: list[float | None] = [None]
    values += [float(logprobs[i - 1, t]) for i, t in enumerate(encoded["input_ids"]) if i > 0]
    offsets = [start for start, _ in encoded["offset_mapping"]]
    return {"token_logprobs": values, "text_offset": offsets}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free 127.0.0.1 port; yields the base URL."""
    port = _free_port()
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
