"""A small OpenAI-compatible server for tests: FastAPI + uvicorn on 127.0.0.1 serving a tiny
model through the transformers backend (``/v1/chat/completions``, ``/v1/completions`` with
``echo`` + ``logprobs`` for scoring continuations, as vLLM does). ``serve`` and the scripted
faults live in tests/llm_server.py, shared with the synthetic-generation tests."""

from __future__ import annotations

import threading
from typing import Any

import torch
from fastapi import FastAPI, Header, HTTPException

from app.evaluation.generation.transformers_backend import TransformersBackend
from tests.llm_server import Faults, add_faults
from tests.llm_server import serve as serve


def build_app(
    backend: TransformersBackend, api_key: str | None = None, faults: Faults | None = None
) -> FastAPI:
    """``faults`` scripts errors, stalls and latency before the model answers."""
    app = FastAPI()
    if faults is not None:
        add_faults(app, faults)
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
