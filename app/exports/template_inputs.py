"""A conversation as a chat template receives it (mirrors transformers' apply_chat_template
normalisation): plain JSON values, reasoning aliases, and a system turn folded into the first
user turn for templates without a system role (pure)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from app.exports.template_types import ChatTemplate, TemplateError

REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def plain(value: Any) -> Any:
    """Rebuild ``value`` from plain JSON types, like transformers' ``_plain_template_data``."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if callable(getattr(value, "model_dump", None)):
        return plain(value.model_dump())
    return f"<{type(value).__name__}>"


def alias_reasoning(chat: list[dict[str, Any]]) -> list[dict[str, Any]]:
    aliased = []
    for message in chat:
        reasoning = next(
            (message[key] for key in REASONING_FIELDS if message.get(key) is not None), None
        )
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        aliased.append(message)
    return aliased


def normalise(template: ChatTemplate, messages: Sequence[Any]) -> list[dict[str, Any]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TemplateError(f"chat template {template.name!r}: messages must be a list of dicts")
    if not messages:
        raise TemplateError(f"chat template {template.name!r}: the conversation is empty")
    normalised = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TemplateError(
                f"chat template {template.name!r}: message {index} is not a dict: {message!r}"
            )
        # like transformers: a key whose value is None is treated as absent
        normalised.append({key: value for key, value in message.items() if value is not None})
    return normalised


def fold_system(template: ChatTemplate, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    system, rest = messages[0], messages[1:]
    target = next((i for i, m in enumerate(rest) if m.get("role") == "user"), None)
    if target is None:
        raise TemplateError(
            f"chat template {template.name!r} has no system role and the conversation has no "
            "user turn to fold the system prompt into"
        )
    system_text = system.get("content", "")
    user_text = rest[target].get("content", "")
    if not isinstance(system_text, str) or not isinstance(user_text, str):
        raise TemplateError(
            f"chat template {template.name!r} has no system role; only plain-text system and "
            "user content can be folded together"
        )
    folded = dict(rest[target])
    folded["content"] = f"{system_text}\n\n{user_text}" if system_text else user_text
    return [*rest[:target], folded, *rest[target + 1 :]]


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in strings(item)]
    return []
