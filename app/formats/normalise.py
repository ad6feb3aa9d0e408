"""Turn loosely-typed message lists into normalised :data:`Message` lists.

Shared by every shape parser.  Field names in errors are JSON-path-like (``messages[2].role``) so
a user can find the problem in their file.
"""

from __future__ import annotations

import json
from typing import Any

from app.formats.records import ROLES, ExampleRecord, Message, RecordInvalid, example_hash

_ROLE_SET = frozenset(ROLES)
_ROLE_LIST = ", ".join(ROLES)
# Optional message keys that survive normalisation; everything else (ids, timestamps, ...) is
# dropped so it cannot make two identical conversations hash differently.
OPTIONAL_KEYS = ("name", "tool_calls", "tool_call_id", "weight")


def kind(value: Any) -> str:
    """The JSON type name of a decoded value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_blank(text: str) -> bool:
    """Empty or whitespace only (without allocating a stripped copy)."""
    return not text or text.isspace()


def optional_str(record: Any, key: str) -> str:
    """A string field that may be absent or null (read as ""); any other type is an error."""
    value = record.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        raise RecordInvalid(key, f"expected a string, got {kind(value)}")
    return value


def text_content(value: Any, field: str) -> str:
    """Content as plain text: a string, or a list of ``{"type": "text", "text": ...}`` parts."""
    if type(value) is str:
        return value
    if not isinstance(value, list):
        raise RecordInvalid(field, f"non-text content ({kind(value)}) is not supported")
    texts = []
    for j, part in enumerate(value):
        part_type = part.get("type") if isinstance(part, dict) else kind(part)
        if part_type != "text":
            raise RecordInvalid(
                field, f"non-text content part {j} (type {part_type!r}) is not supported"
            )
        text = part.get("text")
        if type(text) is not str:
            raise RecordInvalid(field, f"non-text content: part {j} has no text string")
        texts.append(text)
    return "".join(texts)


def message_content(content: Any, role: str, field: str) -> str:
    """The text of one turn.  Only an assistant turn may lack content (a tool call, or a
    response still to be written)."""
    if type(content) is str:
        return content
    if content is None:
        if role == "assistant":
            return ""
        raise RecordInvalid(field, "missing content")
    return text_content(content, field)


def copy_optional_keys(item: dict[str, Any], message: Message, field: str) -> None:
    """Copy the kept optional keys (non-null ones) from a raw turn to a normalised message."""
    for key in OPTIONAL_KEYS:
        value = item.get(key)
        if value is None:
            continue
        if key == "tool_calls":
            if not isinstance(value, list):
                raise RecordInvalid(f"{field}.tool_calls", f"expected an array, got {kind(value)}")
            if not value:
                continue
        message[key] = value


def normalise_messages(value: Any, field: str) -> list[Message]:
    """Validate and normalise an OpenAI-style message list found at ``field``."""
    if not isinstance(value, list):
        what = "missing" if value is None else f"expected an array of messages, got {kind(value)}"
        raise RecordInvalid(field, what)
    messages = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise RecordInvalid(f"{field}[{i}]", f"expected a message object, got {kind(item)}")
        role = item.get("role")
        if type(role) is not str or role not in _ROLE_SET:
            if role is None:
                raise RecordInvalid(f"{field}[{i}].role", "missing role")
            raise RecordInvalid(
                f"{field}[{i}].role", f"unknown role {role!r} (expected one of {_ROLE_LIST})"
            )
        content = message_content(item.get("content"), role, f"{field}[{i}].content")
        message: Message = {"role": role, "content": content}
        if len(item) > 2:
            copy_optional_keys(item, message, f"{field}[{i}]")
        messages.append(message)
    return messages


def as_messages(value: Any, field: str, role: str) -> list[Message]:
    """A bare string becomes one ``role`` turn; a list is normalised as messages."""
    if type(value) is str:
        return [{"role": role, "content": value}]
    if isinstance(value, list):
        return normalise_messages(value, field)
    what = (
        "missing"
        if value is None
        else f"expected a string or an array of messages, got {kind(value)}"
    )
    raise RecordInvalid(field, what)


def normalise_tools(value: Any) -> list[dict[str, Any]] | None:
    """Tool definitions: a list of objects, or a JSON string of one.  Empty means none."""
    if value is None:
        return None
    if type(value) is str:
        if is_blank(value):
            return None
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise RecordInvalid("tools", f"invalid JSON: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise RecordInvalid("tools", f"expected an array of tool objects, got {kind(value)}")
    return value or None


def finish_example(
    messages: list[Message], tools: list[dict[str, Any]] | None, field: str
) -> ExampleRecord:
    """Drop a trailing empty assistant turn, flag a missing response, and hash.

    A missing response is not an error: such rows are imported so a writer can fill them in.
    """
    needs_response = True
    if messages:
        last = messages[-1]
        if last["role"] == "assistant":
            if is_blank(last["content"]) and "tool_calls" not in last:
                messages.pop()
            else:
                needs_response = False
    if not messages:
        raise RecordInvalid(field, "no turns besides an empty assistant response")
    return ExampleRecord(messages, tools, needs_response, example_hash(messages, tools))
