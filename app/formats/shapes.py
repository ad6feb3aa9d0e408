"""Record shapes: detect which training-data format a record is in and parse it.

=================== ==========================================================================
format              record
=================== ==========================================================================
messages            ``{"messages": [{"role", "content"}, ...], "tools"?}`` (OpenAI / TRL)
sharegpt            ``{"conversations": [{"from", "value"}, ...], "system"?, "tools"?}``
alpaca              ``{"instruction", "input"?, "output", "system"?}``
prompt_completion   ``{"prompt", "completion"}`` (strings or message arrays)
preference          ``{"prompt"?, "chosen", "rejected"}`` (TRL; strings or message arrays)
hh                  ``{"chosen", "rejected"}`` as "\\n\\nHuman: ...\\n\\nAssistant: ..." strings
=================== ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.formats.normalise import (
    as_messages,
    finish_example,
    is_blank,
    kind,
    message_content,
    normalise_messages,
    normalise_tools,
    optional_str,
)
from app.formats.pairs import parse_hh, parse_preference
from app.formats.records import (
    ExampleRecord,
    Message,
    PairRecord,
    RecordInvalid,
    example_hash,
    single_turn_hash,
)

FORMATS = ("messages", "sharegpt", "alpaca", "prompt_completion", "preference", "hh")

_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "model": "assistant",
    "function_call": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "function_response": "tool",
}
_SHAREGPT_ROLE_LIST = ", ".join(_SHAREGPT_ROLES)


def detect_format(record: Mapping[str, Any]) -> str:
    """The format of one record, judged by its keys (see the module docstring)."""
    if "messages" in record:
        return "messages"
    if "conversations" in record:
        return "sharegpt"
    if "instruction" in record:
        return "alpaca"
    if "chosen" in record and "rejected" in record:
        chosen = record["chosen"]
        if (
            "prompt" not in record
            and type(chosen) is str
            and "Human:" in chosen
            and "Assistant:" in chosen
        ):
            return "hh"
        return "preference"
    if "prompt" in record and "completion" in record:
        return "prompt_completion"
    raise RecordInvalid(
        "*",
        f"unrecognised record shape (keys: {_key_list(record)}); "
        f"use --format with one of {', '.join(FORMATS)}",
    )


def _key_list(record: Mapping[str, Any], most: int = 10, width: int = 40) -> str:
    """The record's keys for an error message, kept short (CSV headers can be whole sentences)."""
    keys = sorted(str(key) for key in record)
    shown = [key if len(key) <= width else key[: width - 3] + "..." for key in keys[:most]]
    if len(keys) > most:
        shown.append(f"and {len(keys) - most} more")
    return ", ".join(shown) or "none"


def parse_record(record: Mapping[str, Any], fmt: str) -> ExampleRecord | PairRecord:
    """Parse one record in format ``fmt``; raises :class:`RecordInvalid` naming the field."""
    return parser_for(fmt)(record)


Parser = Callable[[Mapping[str, Any]], ExampleRecord | PairRecord]


def parser_for(fmt: str) -> Parser:
    """The parse function for ``fmt`` (ValueError for an unknown format)."""
    try:
        return _PARSERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}") from None


def _parse_messages(record: Mapping[str, Any]) -> ExampleRecord:
    value = record.get("messages")
    if isinstance(value, list) and not value:
        raise RecordInvalid("messages", "empty array")
    messages = normalise_messages(value, "messages")
    return finish_example(messages, normalise_tools(record.get("tools")), "messages")


def _parse_sharegpt(record: Mapping[str, Any]) -> ExampleRecord:
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        what = (
            "missing"
            if turns is None
            else "empty array"
            if turns == []
            else f"expected an array of turns, got {kind(turns)}"
        )
        raise RecordInvalid("conversations", what)
    messages: list[Message] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RecordInvalid(f"conversations[{i}]", f"expected a turn object, got {kind(turn)}")
        # Some ShareGPT exports use OpenAI's key names inside "conversations".
        source = turn.get("from", turn.get("role"))
        role = _SHAREGPT_ROLES.get(source.lower()) if type(source) is str else None
        if role is None:
            if source is None:
                raise RecordInvalid(f"conversations[{i}].from", "missing role")
            raise RecordInvalid(
                f"conversations[{i}].from",
                f"unknown role {source!r} (expected one of {_SHAREGPT_ROLE_LIST})",
            )
        value = turn["value"] if "value" in turn else turn.get("content")
        content = message_content(value, role, f"conversations[{i}].value")
        message: Message = {"role": role, "content": content}
        weight = turn.get("weight")
        if weight is not None:
            message["weight"] = weight
        messages.append(message)
    system = optional_str(record, "system")
    if not is_blank(system) and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    return finish_example(messages, normalise_tools(record.get("tools")), "conversations")


def _parse_alpaca(record: Mapping[str, Any]) -> ExampleRecord:
    # The import hot path: kept inline, free of helper layers.
    get = record.get
    instruction = get("instruction")
    if type(instruction) is not str or not instruction or instruction.isspace():
        what = (
            "missing or empty"
            if instruction is None or type(instruction) is str
            else f"expected a string, got {kind(instruction)}"
        )
        raise RecordInvalid("instruction", what)
    extra = get("input")
    output = get("output")
    system = get("system")
    if type(extra) is not str or type(output) is not str or system is not None:
        extra = optional_str(record, "input")
        output = optional_str(record, "output")
        system = optional_str(record, "system")
        if system.isspace():
            system = ""
    user = f"{instruction}\n\n{extra}" if extra and not extra.isspace() else instruction
    if output.isspace():
        output = ""
    messages: list[Message] = (
        [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
        if output
        else [{"role": "user", "content": user}]
    )
    if system:
        messages.insert(0, {"role": "system", "content": system})
        content_hash = example_hash(messages, None)
    else:
        content_hash = single_turn_hash(user, output)
    return ExampleRecord(messages, None, not output, content_hash)


def _parse_prompt_completion(record: Mapping[str, Any]) -> ExampleRecord:
    prompt = as_messages(record.get("prompt"), "prompt", "user")
    if not prompt or all(is_blank(message["content"]) for message in prompt):
        raise RecordInvalid("prompt", "empty prompt")
    completion = record.get("completion")
    messages = prompt
    if completion is not None:
        messages = prompt + as_messages(completion, "completion", "assistant")
    return finish_example(messages, normalise_tools(record.get("tools")), "completion")


_PARSERS: dict[str, Parser] = {
    "messages": _parse_messages,
    "sharegpt": _parse_sharegpt,
    "alpaca": _parse_alpaca,
    "prompt_completion": _parse_prompt_completion,
    "preference": parse_preference,
    "hh": parse_hh,
}
