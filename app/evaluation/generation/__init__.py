"""Generation backends behind one interface: transformers (local) and OpenAI-compatible HTTP."""

from app.evaluation.generation.base import (
    Generation,
    GenerationBackend,
    GenerationError,
    LogprobBackend,
    Prompt,
    Throughput,
    throughput,
)

__all__ = [
    "Generation",
    "GenerationBackend",
    "GenerationError",
    "LogprobBackend",
    "Prompt",
    "Throughput",
    "throughput",
]
