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

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FORMATS", "ExportFormat", "ExportRowError"]

Row = dict[str, Any]
Message = dict[str, Any]

# Keys of a message the conversational formats carry over besides role/content.
_TOOL_KEYS = ("tool_calls", "tool_call_id", "name")


class ExportRowError(Exception):
    """An item that cannot be written in the requested format (reported, not fatal)."""

    def __init__(self, item_id: int, message: str) -> None:
        super().__init__(f"item {item_id}: {message}")
        self.item_id = item_id
        self.message = message


@dataclass(frozen=True)
class ExportFormat:
    """A target format: a row builder for SFT examples and/or for preference pairs."""

    name: str
    description: str
    examples: Callable[[dict[str, Any]], dict[str, Any]] | None  # None: no SFT form
    pairs: Callable[[dict[str, Any]], dict[str, Any]] | None  # None: no preference form


# --------------------------------------------------------------------------------------------
# shared helpers


def _item_id(item: dict[str, Any]) -> int:
    return int(item.get("id", 0))


def _messages(item: dict[str, Any], key: str) -> list[Message]:
    value = item.get(key)
    if not isinstance(value, list) or not value:
        raise ExportRowError(_item_id(item), f"{key!r} must be a non-empty list of messages")
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "user",
            "assistant",
            "tool",
        ):
            raise ExportRowError(_item_id(item), f"{key}[{index}] is not a valid message")
    return value


def _tools(item: dict[str, Any]) -> list[Any] | None:
    tools = item.get("tools")
    return list(tools) if tools else None


def _text(item_id: int, message: Message, where: str) -> str:
    """The message content as a string ('' for a missing content, e.g. a pure tool call)."""
    content = message.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise ExportRowError(item_id, f"{where}: content must be a string")
    return content


def _full_message(message: Message, *, keep_weight: bool) -> Message:
    """Copy a message for the conversational (OpenAI/TRL) formats.

    Every key is kept except ``None`` values and ``weight`` where it has no meaning: weight is
    only emitted on assistant turns (OpenAI accepts it there only, and no trainer learns from
    other turns) and never in preference rows (DPO trains on the whole chosen/rejected turns).
    """
    out: Message = {}
    for key, value in message.items():
        if key == "weight" and (not keep_weight or message.get("role") != "assistant"):
            continue
        if value is None and key != "content":
            continue
        out[key] = value
    if "content" not in out:
        out["content"] = None
    if "weight" in out:
        out["weight"] = int(out["weight"])
    return out


def _no_zero_weight(item_id: int, messages: list[Message], fmt: str) -> None:
    """Formats without per-turn loss masks cannot express ``weight: 0``: refuse, don't drop."""
    for index, message in enumerate(messages):
        if message.get("role") == "assistant" and message.get("weight") == 0:
            raise ExportRowError(
                item_id,
                f"{fmt} cannot express weight 0 on assistant turn {index}; "
                "use the messages or axolotl format",
            )


def _no_tools(item_id: int, messages: list[Message], tools: list[Any] | None, fmt: str) -> None:
    if tools:
        raise ExportRowError(item_id, f"{fmt} has no place for tool definitions")
    for index, message in enumerate(messages):
        if message.get("role") == "tool" or message.get("tool_calls"):
            raise ExportRowError(item_id, f"{fmt} cannot express tool turns (turn {index})")


def _single_response(item: dict[str, Any], key: str, fmt: str) -> Message:
    """The one assistant message of a pair's chosen/rejected, for single-response formats."""
    item_id = _item_id(item)
    messages = _messages(item, key)
    if len(messages) != 1:
        raise ExportRowError(
            item_id,
            f"{fmt} takes a single {key} response but it has {len(messages)} turns",
        )
    message = messages[0]
    if message.get("role") != "assistant":
        raise ExportRowError(item_id, f"{key} must be an assistant message")
    return message


def _split_system(item_id: int, messages: list[Message], fmt: str) -> tuple[str, list[Message]]:
    """A leading system message becomes the row's system field; others are refused."""
    system = ""
    rest = messages
    if messages and messages[0].get("role") == "system":
        system = _text(item_id, messages[0], "system")
        rest = messages[1:]
    if any(message.get("role") == "system" for message in rest):
        raise ExportRowError(item_id, f"{fmt} allows a system prompt only as the first turn")
    return system, rest


# --------------------------------------------------------------------------------------------
# messages: TRL SFT conversational / OpenAI chat fine-tuning
# https://huggingface.co/docs/trl/dataset_formats#conversational
# https://platform.openai.com/docs/guides/supervised-fine-tuning (weight 0/1 on assistant turns)


def messages_example(example: dict[str, Any]) -> Row:
    """``{"messages": [...], "tools"?: [...]}`` with weight/tool_calls/tool_call_id/name kept."""
    row: Row = {
        "messages": [_full_message(m, keep_weight=True) for m in _messages(example, "messages")]
    }
    tools = _tools(example)
    if tools:
        row["tools"] = tools
    return row


# --------------------------------------------------------------------------------------------
# trl_preference: TRL preference, conversational, explicit prompt
# https://huggingface.co/docs/trl/dataset_formats#preference


def trl_preference_pair(pair: dict[str, Any]) -> Row:
    """``{"prompt": [...], "chosen": [...], "rejected": [...], "tools"?: [...]}`` (all turns)."""
    row: Row = {
        key: [_full_message(m, keep_weight=False) for m in _messages(pair, key)]
        for key in ("prompt", "chosen", "rejected")
    }
    tools = _tools(pair)
    if tools:
        row["tools"] = tools
    return row


# --------------------------------------------------------------------------------------------
# openai_preference: OpenAI DPO fine-tuning
# https://platform.openai.com/docs/guides/direct-preference-optimization
# "preferred_output" / "non_preferred_output" hold the final assistant message; OpenAI trains on
# one-turn outputs only, so multi-turn responses are refused.


def openai_preference_pair(pair: dict[str, Any]) -> Row:
    prompt = [_full_message(m, keep_weight=False) for m in _messages(pair, "prompt")]
    model_input: Row = {"messages": prompt}
    tools = _tools(pair)
    if tools:
        model_input["tools"] = tools
    chosen = _single_response(pair, "chosen", "openai_preference")
    rejected = _single_response(pair, "rejected", "openai_preference")
    return {
        "input": model_input,
        "preferred_output": [_full_message(chosen, keep_weight=False)],
        "non_preferred_output": [_full_message(rejected, keep_weight=False)],
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
    for key in _TOOL_KEYS:
        if message.get(key) is not None:
            out[key] = message[key]
    weight = message.get("weight")
    if message["role"] == "assistant" and weight is not None:
        out["training"] = bool(weight)
    return out


def axolotl_example(example: dict[str, Any]) -> Row:
    row: Row = {"messages": [_axolotl_message(m) for m in _messages(example, "messages")]}
    tools = _tools(example)
    if tools:
        row["tools"] = tools
    return row


def axolotl_pair(pair: dict[str, Any]) -> Row:
    item_id = _item_id(pair)
    prompt = _messages(pair, "prompt")
    _no_tools(item_id, prompt, _tools(pair), "axolotl chat_template.default")
    row: Row = {
        "messages": [
            {"role": m["role"], "content": _text(item_id, m, f"prompt[{i}]")}
            for i, m in enumerate(prompt)
        ]
    }
    for key in ("chosen", "rejected"):
        message = _single_response(pair, key, "axolotl chat_template.default")
        if message.get("tool_calls"):
            raise ExportRowError(item_id, f"axolotl DPO cannot express tool calls in {key}")
        row[key] = {"role": "assistant", "content": _text(item_id, message, key)}
    return row


# --------------------------------------------------------------------------------------------
# llamafactory: LLaMA-Factory ShareGPT format (data/README.md, "Sharegpt Format")
# {"conversations": [{"from": human|gpt|function_call|observation, "value"}], "system": str,
#  "tools": json string}. human/observation sit at odd positions (1st, 3rd, ...), gpt and
# function_call at even ones; SFT rows end with gpt/function_call, ranking rows end with
# human/observation and carry single `chosen`/`rejected` turns. `system` and `tools` are always
# written ("" when absent) because the generated dataset_info maps both columns.
# function_call values are JSON {"name", "arguments"} (a list for parallel calls) and tools are
# the bare function definitions, as in LLaMA-Factory's glaive_toolcall demo data.


def _llamafactory_call_value(item_id: int, message: Message) -> str:
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or "name" not in function:
            raise ExportRowError(item_id, "tool call without a function name")
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError as exc:
                raise ExportRowError(item_id, "tool call arguments are not valid JSON") from exc
        calls.append({"name": function["name"], "arguments": arguments})
    value: Any = calls[0] if len(calls) == 1 else calls
    return json.dumps(value, ensure_ascii=False)


def _llamafactory_turn(item_id: int, message: Message, where: str) -> dict[str, str]:
    role = message["role"]
    if role == "user":
        return {"from": "human", "value": _text(item_id, message, where)}
    if role == "tool":
        return {"from": "observation", "value": _text(item_id, message, where)}
    if role == "assistant":
        if message.get("tool_calls"):
            if _text(item_id, message, where).strip():
                raise ExportRowError(
                    item_id, f"{where}: LLaMA-Factory cannot hold text and tool calls in one turn"
                )
            return {"from": "function_call", "value": _llamafactory_call_value(item_id, message)}
        return {"from": "gpt", "value": _text(item_id, message, where)}
    raise ExportRowError(item_id, f"{where}: unexpected {role} turn")


def _llamafactory_tools(tools: list[Any] | None) -> str:
    if not tools:
        return ""
    bare = [
        t["function"] if isinstance(t, dict) and t.get("type") == "function" else t for t in tools
    ]
    return json.dumps(bare, ensure_ascii=False)


def _llamafactory_conversation(
    item_id: int, messages: list[Message], *, ends_with_model: bool
) -> tuple[str, list[dict[str, str]]]:
    system, rest = _split_system(item_id, messages, "llamafactory")
    _no_zero_weight(item_id, rest, "llamafactory")
    turns = [_llamafactory_turn(item_id, m, f"turn {i}") for i, m in enumerate(rest)]
    for index, turn in enumerate(turns):
        model_turn = turn["from"] in ("gpt", "function_call")
        if model_turn != (index % 2 == 1):
            raise ExportRowError(
                item_id,
                "LLaMA-Factory needs alternating human/observation and gpt/function_call turns",
            )
    if not turns or (len(turns) % 2 == 0) != ends_with_model:
        expected = "an assistant" if ends_with_model else "a user or tool"
        raise ExportRowError(item_id, f"conversation must end with {expected} turn")
    return system, turns


def llamafactory_example(example: dict[str, Any]) -> Row:
    item_id = _item_id(example)
    system, turns = _llamafactory_conversation(
        item_id, _messages(example, "messages"), ends_with_model=True
    )
    return {"conversations": turns, "system": system, "tools": _llamafactory_tools(_tools(example))}


def llamafactory_pair(pair: dict[str, Any]) -> Row:
    item_id = _item_id(pair)
    system, turns = _llamafactory_conversation(
        item_id, _messages(pair, "prompt"), ends_with_model=False
    )
    row: Row = {"conversations": turns}
    for key in ("chosen", "rejected"):
        row[key] = _llamafactory_turn(item_id, _single_response(pair, key, "llamafactory"), key)
    row["system"] = system
    row["tools"] = _llamafactory_tools(_tools(pair))
    return row


# --------------------------------------------------------------------------------------------
# sharegpt: the original ShareGPT layout read by older tools (e.g. FastChat, Axolotl's
# deprecated `type: sharegpt`): {"conversations": [{"from": system|human|gpt, "value"}]}.
# No tool roles and no per-turn weights, so those are refused. No preference form.

_SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt_example(example: dict[str, Any]) -> Row:
    item_id = _item_id(example)
    messages = _messages(example, "messages")
    _no_tools(item_id, messages, _tools(example), "sharegpt")
    _no_zero_weight(item_id, messages, "sharegpt")
    return {
        "conversations": [
            {"from": _SHAREGPT_FROM[m["role"]], "value": _text(item_id, m, f"turn {i}")}
            for i, m in enumerate(messages)
        ]
    }


# --------------------------------------------------------------------------------------------
# alpaca: LLaMA-Factory Alpaca format (data/README.md, "Alpaca Format")
# SFT: {"instruction", "input": "", "output", "system", "history": [[user, assistant], ...]};
# preference: {"instruction", "input": "", "chosen", "rejected", "system", "history"}.
# `system` ("" when absent) and `history` ([] when single-turn) are always written because the
# generated dataset_info maps both columns. LLaMA-Factory learns the history responses too, so
# weight 0 anywhere is refused, as are tool turns.


def _alpaca_turns(
    item_id: int, messages: list[Message], tools: list[Any] | None
) -> tuple[str, list[tuple[str, str]], list[Message]]:
    """(system, complete [user, assistant] rounds, leftover trailing messages)."""
    _no_tools(item_id, messages, tools, "alpaca")
    system, rest = _split_system(item_id, messages, "alpaca")
    _no_zero_weight(item_id, rest, "alpaca")
    rounds: list[tuple[str, str]] = []
    index = 0
    while index + 1 < len(rest):
        user, assistant = rest[index], rest[index + 1]
        if user["role"] != "user" or assistant["role"] != "assistant":
            raise ExportRowError(item_id, "alpaca needs alternating user/assistant turns")
        rounds.append(
            (
                _text(item_id, user, f"turn {index}"),
                _text(item_id, assistant, f"turn {index + 1}"),
            )
        )
        index += 2
    return system, rounds, rest[index:]


def alpaca_example(example: dict[str, Any]) -> Row:
    item_id = _item_id(example)
    system, rounds, leftover = _alpaca_turns(
        item_id, _messages(example, "messages"), _tools(example)
    )
    if leftover or not rounds:
        raise ExportRowError(item_id, "alpaca needs a conversation ending with an assistant turn")
    instruction, output = rounds[-1]
    return {
        "instruction": instruction,
        "input": "",
        "output": output,
        "system": system,
        "history": [list(r) for r in rounds[:-1]],
    }


def alpaca_pair(pair: dict[str, Any]) -> Row:
    item_id = _item_id(pair)
    system, rounds, leftover = _alpaca_turns(item_id, _messages(pair, "prompt"), _tools(pair))
    if len(leftover) != 1 or leftover[0]["role"] != "user":
        raise ExportRowError(item_id, "alpaca preference prompts must end with a user turn")
    row: Row = {"instruction": _text(item_id, leftover[0], "prompt"), "input": ""}
    for key in ("chosen", "rejected"):
        message = _single_response(pair, key, "alpaca")
        if message.get("tool_calls"):
            raise ExportRowError(item_id, f"alpaca cannot express tool calls in {key}")
        row[key] = _text(item_id, message, key)
    row["system"] = system
    row["history"] = [list(r) for r in rounds]
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
