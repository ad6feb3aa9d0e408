"""One interface for every generation backend.

``generate(prompts, max_new_tokens, greedy)`` returns one :class:`Generation` per prompt with its
timing. A prompt is either plain text (completed as it stands) or a chat conversation (a list of
``{"role", "content"}`` messages, rendered by the backend's chat template or endpoint). Backends
that can score text also implement ``option_logprobs`` (the log-likelihood of each option as a
continuation of a prompt), which multiple-choice scoring prefers over parsing a letter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Message = Mapping[str, str]
Prompt = str | Sequence[Message]


@dataclass(frozen=True)
class Generation:
    text: str
    new_tokens: int
    #: Wall time of the request (of the whole batch, for batched backends).
    seconds: float
    #: Time until the first new token was available, when the backend can tell.
    time_to_first_token: float | None = None


@dataclass(frozen=True)
class Throughput:
    outputs: int
    new_tokens: int
    seconds: float
    tokens_per_s: float
    mean_time_to_first_token: float | None


def throughput(calls: Sequence[tuple[Sequence[Generation], float]]) -> Throughput:
    """Tokens/s over ``(generations, wall seconds)`` of each ``generate`` call, and mean TTFT."""
    outputs = sum(len(generations) for generations, _ in calls)
    tokens = sum(g.new_tokens for generations, _ in calls for g in generations)
    seconds = sum(wall for _, wall in calls)
    ttfts = [
        g.time_to_first_token
        for generations, _ in calls
        for g in generations
        if g.time_to_first_token is not None
    ]
    return Throughput(
        outputs,
        tokens,
        seconds,
        tokens / seconds if seconds > 0 else 0.0,
        sum(ttfts) / len(ttfts) if ttfts else None,
    )


@runtime_checkable
class GenerationBackend(Protocol):
    name: str

    def generate(
        self, prompts: Sequence[Prompt], max_new_tokens: int, greedy: bool = True
    ) -> list[Generation]: ...


@runtime_checkable
class LogprobBackend(GenerationBackend, Protocol):
    def option_logprobs(self, prompt: Prompt, options: Sequence[str]) -> list[float]: ...


class GenerationError(RuntimeError):
    """A backend could not produce outputs (endpoint down after retries, bad response)."""
