"""What every row builder shares: the row and message types, the per-item error, and reading
an item's turns and tools with the checks a format needs (pure, stdlib only)."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]
Message = dict[str, Any]

# Keys of a message the conversational formats carry over besides role/content.
TOOL_KEYS = ("tool_calls", "tool_call_id", "name")


class ExportRowError(Exception):
    """An item that cannot be written in the requested format (reported, not fatal)."""

    def __init__(self, item_id: int, message: str) -> None:
        super().__init__(f"item {item_id}: {message}")
        self.item_id = item_id
        self.message = message


def id_of(item: dict[str, Any]) -> int:
    return int(item.get("id", 0))


def messages_of(item: dict[str, Any], key: str) -> list[Message]:
    value = item.get(key)
    if not isinstance(value, list) or not value:
        raise ExportRowError(id_of(item), f"{key!r} must be a non-empty list of messages")
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "user",
            "assistant",
            "tool",
        ):
            raise ExportRowError(id_of(item), f"{key}[{index}] is not a valid message")
    return value


def tools_of(item: dict[str, Any]) -> list[Any] | None:
    tools = item.get("tools")
    return list(tools) if tools else None


def text_of(item_id: int, message: Message, where: str) -> str:
    """The message content as a string ('' for a missing content, e.g. a pure tool call)."""
    content = message.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise ExportRowError(item_id, f"{where}: content must be a string")
    return content


def full_message(message: Message, *, keep_weight: bool) -> Message:
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


def check_no_zero_weight(item_id: int, messages: list[Message], fmt: str) -> None:
    """Formats without per-turn loss masks cannot express ``weight: 0``: refuse, don't drop."""
    for index, message in enumerate(messages):
        if message.get("role") == "assistant" and message.get("weight") == 0:
            raise ExportRowError(
                item_id,
                f"{fmt} cannot express weight 0 on assistant turn {index}; "
                "use the messages or axolotl format",
            )


def check_no_tools(
    item_id: int, messages: list[Message], tools: list[Any] | None, fmt: str
) -> None:
    if tools:
        raise ExportRowError(item_id, f"{fmt} has no place for tool definitions")
    for index, message in enumerate(messages):
        if message.get("role") == "tool" or message.get("tool_calls"):
            raise ExportRowError(item_id, f"{fmt} cannot express tool turns (turn {index})")


def single_response(item: dict[str, Any], key: str, fmt: str) -> Message:
    """The one assistant message of a pair's chosen/rejected, for single-response formats."""
    item_id = id_of(item)
    messages = messages_of(item, key)
    if len(messages) != 1:
        raise ExportRowError(
            item_id,
            f"{fmt} takes a single {key} response but it has {len(messages)} turns",
        )
    message = messages[0]
    if message.get("role") != "assistant":
        raise ExportRowError(item_id, f"{key} must be an assistant message")
    return message


def split_system(item_id: int, messages: list[Message], fmt: str) -> tuple[str, list[Message]]:
    """A leading system message becomes the row's system field; others are refused."""
    system = ""
    rest = messages
    if messages and messages[0].get("role") == "system":
        system = text_of(item_id, messages[0], "system")
        rest = messages[1:]
    if any(message.get("role") == "system" for message in rest):
        raise ExportRowError(item_id, f"{fmt} allows a system prompt only as the first turn")
    return system, rest
