"""Row builders: one SFT example or preference pair -> one JSON row of a target tool's format.

Pure functions over plain dicts (stdlib only). Each builder either returns a row shaped exactly
as the target tool documents it, or raises :class:`ExportRowError` when the item cannot be
expressed in that format without silently losing information (for example a multi-turn chosen
response in a format whose ``chosen`` is a single string). The caller reports those per item.

Inputs (see the export service):

* example: ``{"id", "version", "content_hash", "messages": [...], "tools": list | None, ...}``
* pair: ``{"id", "version", "content_hash", "prompt": [...], "chosen": [...],
  "rejected": [...], "tools"?: list | None, ...}``

Messages are OpenAI-style dicts: ``role`` in system/user/assistant/tool, ``content``, and
optionally ``weight`` (0/1, assistant only), ``tool_calls``, ``tool_call_id``, ``name``.

The ``text`` format (rendered through a chat template) lives in a separate module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.exports.row_helpers import (
    TOOL_KEYS,
    ExportRowError,
    Message,
    Row,
    check_no_tools,
    full_message,
    id_of,
    messages_of,
    single_response,
    text_of,
    tools_of,
)
from app.exports.rows_sharegpt import (
    alpaca_example,
    alpaca_pair,
    llamafactory_example,
    llamafactory_pair,
    sharegpt_example,
)

__all__ = ["FORMATS", "ExportFormat", "ExportRowError"]


@dataclass(frozen=True)
class ExportFormat:
    """A target format: a row builder for SFT examples and/or for preference pairs."""

    name: str
    description: str
    examples: Callable[[dict[str, Any]], dict[str, Any]] | None  # None: no SFT form
    pairs: Callable[[dict[str, Any]], dict[str, Any]] | None  # None: no preference form


# --------------------------------------------------------------------------------------------
# messages: TRL SFT conversational / OpenAI chat fine-tuning
# https://huggingface.co/docs/trl/dataset_formats#conversational
# https://platform.openai.com/docs/guides/supervised-fine-tuning (weight 0/1 on assistant turns)


def messages_example(example: dict[str, Any]) -> Row:
    """``{"messages": [...], "tools"?: [...]}`` with weight/tool_calls/tool_call_id/name kept."""
    row: Row = {
        "messages": [full_message(m, keep_weight=True) for m in messages_of(example, "messages")]
    }
    tools = tools_of(example)
    if tools:
        row["tools"] = tools
    return row


# --------------------------------------------------------------------------------------------
# trl_preference: TRL preference, conversational, explicit prompt
# https://huggingface.co/docs/trl/dataset_formats#preference


def trl_preference_pair(pair: dict[str, Any]) -> Row:
    """``{"prompt": [...], "chosen": [...], "rejected": [...], "tools"?: [...]}`` (all turns)."""
    row: Row = {
        key: [full_message(m, keep_weight=False) for m in messages_of(pair, key)]
        for key in ("prompt", "chosen", "rejected")
    }
    tools = tools_of(pair)
    if tools:
        row["tools"] = tools
    return row


# --------------------------------------------------------------------------------------------
# openai_preference: OpenAI DPO fine-tuning
# https://platform.openai.com/docs/guides/direct-preference-optimization
# "preferred_output" / "non_preferred_output" hold the final assistant message; OpenAI trains on
# one-turn outputs only, so multi-turn responses are refused.


def openai_preference_pair(pair: dict[str, Any]) -> Row:
    prompt = [full_message(m, keep_weight=False) for m in messages_of(pair, "prompt")]
    model_input: Row = {"messages": prompt}
    tools = tools_of(pair)
    if tools:
        model_input["tools"] = tools
    chosen = single_response(pair, "chosen", "openai_preference")
    rejected = single_response(pair, "rejected", "openai_preference")
    return {
        "input": model_input,
        "preferred_output": [full_message(chosen, keep_weight=False)],
        "non_preferred_output": [full_message(rejected, keep_weight=False)],
    }


# --------------------------------------------------------------------------------------------
# axolotl
# SFT: `type: chat_template` (docs/dataset-formats/conversation.qmd): {"messages": [{role,
#   content}]}; tool_calls/tool_call_id/name pass through when the chat template uses them, and
#   `tools` is read from `field_tools` (default "tools"). Per-turn weight becomes the boolean
#   `training` field read through `message_field_training: training` (set in the generated
#   config); turns without it fall back to `roles_to_train`.
# DPO: `type: chat_template.default` (src/axolotl/prompt_strategies/dpo/chat_template.py):
#   {"messages": [prompt], "chosen": {"role": "assistant", "content"}, "rejected": {...}} using
#   the default field_messages/field_chosen/field_rejected names. That strategy keeps only
#   role/content and the *last* message of a list, so multi-turn or tool-call responses and
#   tool turns in the prompt are refused rather than silently cut.


def _axolotl_message(message: Message) -> Message:
    out: Message = {"role": message["role"], "content": message.get("content") or ""}
    for key in TOOL_KEYS:
        if message.get(key) is not None:
            out[key] = message[key]
    weight = message.get("weight")
    if message["role"] == "assistant" and weight is not None:
        out["training"] = bool(weight)
    return out


def axolotl_example(example: dict[str, Any]) -> Row:
    row: Row = {"messages": [_axolotl_message(m) for m in messages_of(example, "messages")]}
    tools = tools_of(example)
    if tools:
        row["tools"] = tools
    return row


def axolotl_pair(pair: dict[str, Any]) -> Row:
    item_id = id_of(pair)
    prompt = messages_of(pair, "prompt")
    check_no_tools(item_id, prompt, tools_of(pair), "axolotl chat_template.default")
    row: Row = {
        "messages": [
            {"role": m["role"], "content": text_of(item_id, m, f"prompt[{i}]")}
            for i, m in enumerate(prompt)
        ]
    }
    for key in ("chosen", "rejected"):
        message = single_response(pair, key, "axolotl chat_template.default")
        if message.get("tool_calls"):
            raise ExportRowError(item_id, f"axolotl DPO cannot express tool calls in {key}")
        row[key] = {"role": "assistant", "content": text_of(item_id, message, key)}
    return row


# --------------------------------------------------------------------------------------------

FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "messages",
            "OpenAI chat / TRL conversational JSONL: {messages, tools?}",
            messages_example,
            None,
        ),
        ExportFormat(
            "trl_preference",
            "TRL conversational preference JSONL: {prompt, chosen, rejected}",
            None,
            trl_preference_pair,
        ),
        ExportFormat(
            "openai_preference",
            "OpenAI DPO JSONL: {input, preferred_output, non_preferred_output}",
            None,
            openai_preference_pair,
        ),
        ExportFormat(
            "axolotl",
            "Axolotl chat_template (SFT) / chat_template.default (DPO) JSONL",
            axolotl_example,
            axolotl_pair,
        ),
        ExportFormat(
            "llamafactory",
            "LLaMA-Factory ShareGPT JSONL (conversations/system/tools; ranking for pairs)",
            llamafactory_example,
            llamafactory_pair,
        ),
        ExportFormat(
            "sharegpt",
            "Classic ShareGPT JSONL: {conversations: [{from, value}]}",
            sharegpt_example,
            None,
        ),
        ExportFormat(
            "alpaca",
            "LLaMA-Factory Alpaca JSONL: instruction/input/output (+system, history)",
            alpaca_example,
            alpaca_pair,
        ),
    )
}
