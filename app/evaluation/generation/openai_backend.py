"""Any OpenAI-compatible endpoint (vLLM, TGI, Ollama, llama.cpp server, a hosted API) over httpx.

Chat prompts go to ``/v1/chat/completions``, plain-text prompts to ``/v1/completions``. The API
key is read from the environment variable *named* in the configuration, never stored. Requests
that fail with a transport error, 429 or 5xx are retried with exponential backoff; prompts in a
call are sent concurrently (``concurrency`` at a time). Time to first token needs streaming,
which this backend does not use; it is reported as ``None``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from app.evaluation.generation.base import Generation, GenerationError, Prompt
from app.llm.client import ChatClient, EndpointSettings, LLMError


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 0.5
    concurrency: int = 8


class OpenAICompatibleBackend:
    """Evaluation's view of an endpoint; the HTTP work (retries, Retry-After, the key from the
    environment) is the shared :class:`app.llm.client.ChatClient`'s."""

    name = "openai"

    def __init__(self, config: EndpointConfig, *, transport: httpx.BaseTransport | None = None):
        self.config = config
        settings = EndpointSettings(
            base_url=config.base_url,
            model=config.model,
            api_key_env=config.api_key_env,
            timeout_s=config.timeout_s,
            max_retries=config.max_retries,
            backoff_s=config.backoff_s,
            concurrency=config.concurrency,
        )
        try:
            self.chat_client = ChatClient(settings, transport=transport)
        except LLMError as error:
            raise GenerationError(str(error)) from error
        self.client = self.chat_client.client

    def close(self) -> None:
        self.chat_client.close()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries on transport errors, 429 and 5xx (exponential backoff)."""
        try:
            return self.chat_client.post(path, body)
        except LLMError as error:
            raise GenerationError(str(error)) from error

    def _one(self, prompt: Prompt, max_new_tokens: int, greedy: bool) -> Generation:
        body: dict[str, Any] = {"model": self.config.model, "max_tokens": max_new_tokens}
        if greedy:
            body["temperature"] = 0.0
        started = time.perf_counter()
        if isinstance(prompt, str):
            data = self.post("/completions", {**body, "prompt": prompt})
            text = data["choices"][0]["text"]
        else:
            messages = [dict(message) for message in prompt]
            data = self.post("/chat/completions", {**body, "messages": messages})
            text = data["choices"][0]["message"]["content"] or ""
        seconds = time.perf_counter() - started
        tokens = int((data.get("usage") or {}).get("completion_tokens", 0))
        return Generation(text, tokens, seconds, None)

    def generate(
        self, prompts: Sequence[Prompt], max_new_tokens: int, greedy: bool = True
    ) -> list[Generation]:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            results = list(pool.map(lambda p: self._one(p, max_new_tokens, greedy), prompts))
        wall = time.perf_counter() - started
        # A call is one batch: its wall time is what throughput divides by.
        return [Generation(r.text, r.new_tokens, wall, r.time_to_first_token) for r in results]

    def option_logprobs(self, prompt: Prompt, options: Sequence[str]) -> list[float]:
        """Log-likelihood of each option via ``/v1/completions`` with ``echo`` and ``logprobs``
        (vLLM's way of scoring a continuation); plain-text prompts only."""
        if not isinstance(prompt, str):
            raise GenerationError("option log-likelihoods need a plain-text prompt")
        scores = []
        for option in options:
            data = self.post(
                "/completions",
                {
                    "model": self.config.model,
                    "prompt": prompt + option,
                    "max_tokens": 0,
                    "echo": True,
                    "logprobs": 0,
                },
            )
            logprobs = data["choices"][0]["logprobs"]
            offsets: list[int] = logprobs["text_offset"]
            values: list[float | None] = logprobs["token_logprobs"]
            scores.append(
                sum(v for o, v in zip(offsets, values, strict=True) if o >= len(prompt) and v)
            )
        return scores
