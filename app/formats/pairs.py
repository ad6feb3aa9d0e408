"""Preference pairs: TRL preference records and Anthropic HH-RLHF transcripts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.formats.normalise import as_messages, is_blank, kind, normalise_messages
from app.formats.records import Message, PairRecord, RecordInvalid, pair_hash

_HUMAN = "\n\nHuman:"
_ASSISTANT = "\n\nAssistant:"


def split_pair(
    chosen: list[Message], rejected: list[Message]
) -> tuple[list[Message], list[Message], list[Message]]:
    """Split two full conversations into (shared prompt, chosen rest, rejected rest).

    The prompt is their longest common prefix, but it never takes a side's last turn: when the
    transcripts only differ in the final assistant turn, that turn is the whole response.  When
    they part earlier, each side keeps everything from the point they part (several turns).
    """
    limit = min(len(chosen), len(rejected)) - 1
    shared = 0
    while shared < limit and chosen[shared] == rejected[shared]:
        shared += 1
    return chosen[:shared], chosen[shared:], rejected[shared:]


def finish_pair(
    prompt: list[Message], chosen: list[Message], rejected: list[Message]
) -> PairRecord:
    """Validate a pair and hash it."""
    if not prompt:
        raise RecordInvalid("prompt", "empty prompt")
    if not chosen or is_blank(chosen[-1]["content"]):
        raise RecordInvalid("chosen", "empty response")
    if not rejected or is_blank(rejected[-1]["content"]):
        raise RecordInvalid("rejected", "empty response")
    if chosen == rejected:
        raise RecordInvalid("rejected", "chosen and rejected are identical")
    return PairRecord(prompt, chosen, rejected, pair_hash(prompt, chosen, rejected))


def parse_preference(record: Mapping[str, Any]) -> PairRecord:
    """TRL preference: ``prompt`` (optional) + ``chosen`` + ``rejected``, strings or messages."""
    chosen_value = record.get("chosen")
    rejected_value = record.get("rejected")
    prompt_value = record.get("prompt")
    if prompt_value is None or prompt_value == "":
        # Implicit prompt: chosen and rejected are whole conversations sharing their opening.
        for field, value in (("chosen", chosen_value), ("rejected", rejected_value)):
            if value is None:
                raise RecordInvalid(field, "missing")
        if not isinstance(chosen_value, list) or not isinstance(rejected_value, list):
            raise RecordInvalid(
                "prompt", "missing (needed unless chosen and rejected are message arrays)"
            )
        return finish_pair(
            *split_pair(
                normalise_messages(chosen_value, "chosen"),
                normalise_messages(rejected_value, "rejected"),
            )
        )
    prompt = as_messages(prompt_value, "prompt", "user")
    chosen = as_messages(chosen_value, "chosen", "assistant")
    rejected = as_messages(rejected_value, "rejected", "assistant")
    # Some datasets (e.g. UltraFeedback) repeat the prompt at the start of both responses.
    size = len(prompt)
    if len(chosen) > size and len(rejected) > size and chosen[:size] == prompt == rejected[:size]:
        chosen = chosen[size:]
        rejected = rejected[size:]
    return finish_pair(prompt, chosen, rejected)


def parse_transcript(value: Any, field: str) -> list[Message]:
    """Split an HH-RLHF transcript ("\\n\\nHuman: ...\\n\\nAssistant: ...") into messages."""
    if type(value) is not str:
        raise RecordInvalid(field, f"expected a transcript string, got {kind(value)}")
    text = value.lstrip()
    if not text.startswith(("Human:", "Assistant:")):
        raise RecordInvalid(field, "transcript must start with 'Human:' or 'Assistant:'")
    messages: list[Message] = []
    # Splitting on the Human marker first leaves one user turn (plus its assistant replies) per
    # segment; the first segment is empty unless the transcript opens with an assistant turn.
    for index, segment in enumerate(("\n\n" + text).split(_HUMAN)):
        turns = segment.split(_ASSISTANT)
        if index:
            messages.append({"role": "user", "content": turns[0].strip()})
        for reply in turns[1:]:
            messages.append({"role": "assistant", "content": reply.strip()})
    return messages


def parse_hh(record: Mapping[str, Any]) -> PairRecord:
    """Anthropic HH-RLHF: ``chosen`` and ``rejected`` are whole transcripts."""
    chosen = parse_transcript(record.get("chosen"), "chosen")
    rejected = parse_transcript(record.get("rejected"), "rejected")
    return finish_pair(*split_pair(chosen, rejected))
