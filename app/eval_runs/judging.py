"""The project's judge endpoint in an evaluation run: judge sets (pairwise, tune vs the base
model on the same prompt, both orders) and the refusal scorer's confirmation.

A judge set's items are answered by the base model (with the tune's prompt variant; a prompt
run's opponent is the plain base model) and by the model under test, chunk by chunk; the judge
compares each pair in both orders and the tune's row scores 1 (win), 0.5 (tie) or 0 (loss), the
base's row the complement. Both rows of a chunk are stored in one transaction, so a resumed run
redoes only items with neither stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.evaluation.generation.base import GenerationBackend
from app.evaluation.prompts import PromptVariant
from app.evaluation.runner import EvalItem, ItemRecord
from app.evaluation.scorers.judge import PairwiseJudge
from app.evaluation.scorers.refusal import RefusalJudge

JudgedChunk = Callable[[list[ItemRecord], list[ItemRecord]], None]


def needs_judge(set_settings: Mapping[str, Any]) -> bool:
    """Whether a set is scored (or its refusals confirmed) by the judge endpoint."""
    return set_settings.get("scorer") == "judge" or bool(set_settings.get("judge_refusals"))


def has_judge(settings: Mapping[str, Any]) -> bool:
    return bool(settings.get("judge_url") and settings.get("judge_model"))


def judge_backend(settings: Mapping[str, Any]) -> GenerationBackend:
    """The judge endpoint of a run's frozen settings; its key is read from the environment
    variable the policy names, on the worker."""
    from app.evaluation.generation.openai_backend import EndpointConfig, OpenAICompatibleBackend

    config = EndpointConfig(
        str(settings["judge_url"]),
        str(settings["judge_model"]),
        str(settings.get("judge_api_key_env") or "") or None,
    )
    return OpenAICompatibleBackend(config)


def refusal_confirmer(backend: GenerationBackend) -> RefusalJudge:
    from app.evaluation.scorers.judge import refusal_judge

    return refusal_judge(backend)


def judge_set(
    items: list[EvalItem],
    base: tuple[GenerationBackend, PromptVariant],
    tune: tuple[GenerationBackend, PromptVariant],
    judge: PairwiseJudge,
    *,
    max_new_tokens: int,
    done: set[str],
    chunk_size: int,
    on_chunk: JudgedChunk,
) -> None:
    """Answer, judge and hand over (tune records, base records) per chunk of pending items."""
    pending = [item for item in items if item.id not in done]
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start : start + chunk_size]
        outputs = []
        for backend, variant in (tune, base):
            prompts = [variant.messages(item.prompt) for item in chunk]
            outputs.append(backend.generate(list(prompts), max_new_tokens))
        tune_out, base_out = outputs
        verdicts = judge.compare_many(
            [(item.prompt, t.text, b.text) for item, t, b in zip(chunk, tune_out, base_out,
                                                                  strict=True)]
        )  # fmt: skip
        tune_records, base_records = [], []
        for item, t, b, v in zip(chunk, tune_out, base_out, verdicts, strict=True):
            detail = {"by": "judge", "forward": v.forward, "backward": v.backward}
            tune_records.append(ItemRecord(item.id, item.prompt, item.reference, t.text, v.score,
                                           None, detail, t.new_tokens))  # fmt: skip
            base_records.append(ItemRecord(item.id, item.prompt, item.reference, b.text,
                                           1.0 - v.score, None, detail, b.new_tokens))  # fmt: skip
        on_chunk(tune_records, base_records)
