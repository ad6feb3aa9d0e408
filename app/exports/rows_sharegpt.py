"""Row builders for the ShareGPT family: LLaMA-Factory's ShareGPT and Alpaca layouts and the
classic ShareGPT one (pure, stdlib only)."""

from __future__ import annotations

import json
from typing import Any

from app.exports.row_helpers import (
    ExportRowError,
    Message,
    Row,
    check_no_tools,
    check_no_zero_weight,
    id_of,
    messages_of,
    single_response,
    split_system,
    text_of,
    tools_of,
)

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
        return {"from": "human", "value": text_of(item_id, message, where)}
    if role == "tool":
        return {"from": "observation", "value": text_of(item_id, message, where)}
    if role == "assistant":
        if message.get("tool_calls"):
            if text_of(item_id, message, where).strip():
                raise ExportRowError(
                    item_id, f"{where}: LLaMA-Factory cannot hold text and tool calls in one turn"
                )
            return {"from": "function_call", "value": _llamafactory_call_value(item_id, message)}
        return {"from": "gpt", "value": text_of(item_id, message, where)}
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
    system, rest = split_system(item_id, messages, "llamafactory")
    check_no_zero_weight(item_id, rest, "llamafactory")
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
    item_id = id_of(example)
    system, turns = _llamafactory_conversation(
        item_id, messages_of(example, "messages"), ends_with_model=True
    )
    return {
        "conversations": turns,
        "system": system,
        "tools": _llamafactory_tools(tools_of(example)),
    }


def llamafactory_pair(pair: dict[str, Any]) -> Row:
    item_id = id_of(pair)
    system, turns = _llamafactory_conversation(
        item_id, messages_of(pair, "prompt"), ends_with_model=False
    )
    row: Row = {"conversations": turns}
    for key in ("chosen", "rejected"):
        row[key] = _llamafactory_turn(item_id, single_response(pair, key, "llamafactory"), key)
    row["system"] = system
    row["tools"] = _llamafactory_tools(tools_of(pair))
    return row


# --------------------------------------------------------------------------------------------
# sharegpt: the original ShareGPT layout read by older tools (e.g. FastChat, Axolotl's
# deprecated `type: sharegpt`): {"conversations": [{"from": system|human|gpt, "value"}]}.
# No tool roles and no per-turn weights, so those are refused. No preference form.

_SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt_example(example: dict[str, Any]) -> Row:
    item_id = id_of(example)
    messages = messages_of(example, "messages")
    check_no_tools(item_id, messages, tools_of(example), "sharegpt")
    check_no_zero_weight(item_id, messages, "sharegpt")
    return {
        "conversations": [
            {"from": _SHAREGPT_FROM[m["role"]], "value": text_of(item_id, m, f"turn {i}")}
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
    check_no_tools(item_id, messages, tools, "alpaca")
    system, rest = split_system(item_id, messages, "alpaca")
    check_no_zero_weight(item_id, rest, "alpaca")
    rounds: list[tuple[str, str]] = []
    index = 0
    while index + 1 < len(rest):
        user, assistant = rest[index], rest[index + 1]
        if user["role"] != "user" or assistant["role"] != "assistant":
            raise ExportRowError(item_id, "alpaca needs alternating user/assistant turns")
        rounds.append(
            (
                text_of(item_id, user, f"turn {index}"),
                text_of(item_id, assistant, f"turn {index + 1}"),
            )
        )
        index += 2
    return system, rounds, rest[index:]


def alpaca_example(example: dict[str, Any]) -> Row:
    item_id = id_of(example)
    system, rounds, leftover = _alpaca_turns(
        item_id, messages_of(example, "messages"), tools_of(example)
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
    item_id = id_of(pair)
    system, rounds, leftover = _alpaca_turns(item_id, messages_of(pair, "prompt"), tools_of(pair))
    if len(leftover) != 1 or leftover[0]["role"] != "user":
        raise ExportRowError(item_id, "alpaca preference prompts must end with a user turn")
    row: Row = {"instruction": text_of(item_id, leftover[0], "prompt"), "input": ""}
    for key in ("chosen", "rejected"):
        message = single_response(pair, key, "alpaca")
        if message.get("tool_calls"):
            raise ExportRowError(item_id, f"alpaca cannot express tool calls in {key}")
        row[key] = text_of(item_id, message, key)
    row["system"] = system
    row["history"] = [list(r) for r in rounds]
    return row
