"""Evaluate a model under test on eval items with a scorer, in chunks, resumably.

The caller passes the ids already scored (from a previous, interrupted run) and a callback that
receives each finished chunk's records, so a job can persist them and report progress; items
already scored are skipped, never regenerated. Aggregates come with the bootstrap interval and
the generation throughput.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.evaluation.generation.base import (
    Generation,
    GenerationBackend,
    Prompt,
    Throughput,
    throughput,
)
from app.evaluation.prompts import PLAIN, PromptVariant
from app.evaluation.scorers.base import ItemScore
from app.evaluation.stats import Estimate, bootstrap


@dataclass(frozen=True)
class EvalItem:
    id: str
    prompt: str
    reference: str
    meta: dict[str, Any] = field(default_factory=dict)


#: ``scorer(item, output) -> ItemScore``; wrap a scorer function with its item's fields.
Scorer = Callable[[EvalItem, str], ItemScore]


@dataclass(frozen=True)
class ItemRecord:
    item_id: str
    prompt: str
    reference: str
    output: str
    score: float
    extracted: str | None
    detail: dict[str, Any]
    new_tokens: int


@dataclass(frozen=True)
class EvalResult:
    records: list[ItemRecord]
    score: Estimate | None
    throughput: Throughput
    skipped: int

    def scores_by_id(self) -> dict[str, float]:
        return {record.item_id: record.score for record in self.records}


ChunkCallback = Callable[[list[ItemRecord], int, int], None]


def run_evaluation(
    backend: GenerationBackend,
    items: Sequence[EvalItem],
    scorer: Scorer,
    *,
    variant: PromptVariant = PLAIN,
    chat: bool = True,
    max_new_tokens: int = 256,
    greedy: bool = True,
    chunk_size: int = 32,
    done_ids: Collection[str] = frozenset(),
    on_chunk: ChunkCallback | None = None,
    seed: int = 0,
) -> EvalResult:
    """Generate and score the items not in ``done_ids``, ``chunk_size`` at a time.

    ``on_chunk(records, finished, total)`` runs after each chunk (``finished`` counts items done,
    the skipped ones included). The returned records and score cover this call's items only;
    combine them with the stored ones for the full set.
    """
    pending = [item for item in items if item.id not in done_ids]
    finished = len(items) - len(pending)
    records: list[ItemRecord] = []
    calls: list[tuple[list[Generation], float]] = []
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        prompts: list[Prompt] = [
            variant.messages(item.prompt) if chat else item.prompt for item in chunk
        ]
        started = time.perf_counter()
        generations = backend.generate(prompts, max_new_tokens, greedy)
        calls.append((generations, time.perf_counter() - started))
        chunk_records = [
            _record(item, generation, scorer(item, generation.text))
            for item, generation in zip(chunk, generations, strict=True)
        ]
        records.extend(chunk_records)
        finished += len(chunk)
        if on_chunk is not None:
            on_chunk(chunk_records, finished, len(items))
    score = bootstrap([r.score for r in records], seed=seed) if records else None
    return EvalResult(records, score, throughput(calls), len(items) - len(pending))


def _record(item: EvalItem, generation: Generation, scored: ItemScore) -> ItemRecord:
    return ItemRecord(
        item.id,
        item.prompt,
        item.reference,
        generation.text,
        scored.score,
        scored.extracted,
        scored.detail,
        generation.new_tokens,
    )
