"""Plain-Python renderers for the built-in chat templates (no Jinja).

``app.exports.chat_templates.render`` runs every conversation through a sandboxed Jinja template;
for the built-in templates that costs far more than the string building the templates do.  Each
renderer here builds exactly the string its Jinja source builds, and ``render_fast`` wraps one
with the rest of ``render``'s pipeline (normalisation, system folding, the special-token check).

The fast path is deliberately narrow: it returns ``None`` for anything it does not reproduce with
certainty, and the caller then takes the Jinja path, which gives the result or the exact error.
It only answers when

* ``messages`` is a non-empty ``list`` of ``dict`` whose ``role`` and ``content`` are ``str``
  (exact types; a ``None`` value counts as absent, as in ``render``);
* every other value in a message (and ``tools``) is plain JSON: ``dict`` with ``str`` keys,
  ``list``, ``str``, ``int``, ``float``, ``bool`` or ``None``, nested at most
  ``_MAX_DEPTH`` deep (the built-in templates ignore these keys and ``tools`` alike);
* the Jinja path would not raise: roles alternate where the template demands it, the system
  turn can be folded, and no message holds the BOS/EOS text, nor the rendered text a misplaced
  BOS.  Every error case is left to the Jinja path, so its messages stay the only ones.

This module depends on nothing but the stdlib; ``chat_templates`` maps each built-in template's
source to its renderer here, so a custom template with a byte-identical source (whatever its
BOS/EOS) is rendered here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["RENDERERS", "Renderer", "render_fast"]

Turns = list[tuple[str, str]]
Renderer = Callable[[Turns, str, str, bool], "str | None"]
"""``(turns, bos_token, eos_token, add_generation_prompt) -> text``, or ``None`` where the Jinja
template raises.  ``turns`` are the final (already folded) ``(role, content)`` pairs."""

_MAX_DEPTH = 32
_SCALARS = (str, int, float, bool)


def _chatml(turns: Turns, bos: str, eos: str, add_generation_prompt: bool) -> str | None:
    text = "".join([f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns])
    if add_generation_prompt:
        text += "<|im_start|>assistant\n"
    return text


def _llama3(turns: Turns, bos: str, eos: str, add_generation_prompt: bool) -> str | None:
    text = bos + "".join(
        [
            f"<|start_header_id|>{role}<|end_header_id|>\n\n{content.strip()}<|eot_id|>"
            for role, content in turns
        ]
    )
    if add_generation_prompt:
        text += "<|start_header_id|>assistant<|end_header_id|>\n\n"
    return text


def _mistral(turns: Turns, bos: str, eos: str, add_generation_prompt: bool) -> str | None:
    parts = [bos]
    user_turn = True  # loop.index0 % 2 == 0
    for role, content in turns:
        if role == "user":
            if not user_turn:
                return None  # roles must alternate
            parts.append(f"[INST] {content} [/INST]")
        elif user_turn:
            return None  # roles must alternate
        elif role == "assistant":
            parts.append(content + eos)
        else:
            return None  # only user and assistant roles
        user_turn = not user_turn
    return "".join(parts)


def _gemma(turns: Turns, bos: str, eos: str, add_generation_prompt: bool) -> str | None:
    if turns[0][0] == "system":
        return None  # system role not supported
    parts = [bos]
    user_turn = True
    for role, content in turns:
        if (role == "user") != user_turn:
            return None  # roles must alternate
        user_turn = not user_turn
        if role == "assistant":
            role = "model"
        parts.append(f"<start_of_turn>{role}\n{content.strip()}<end_of_turn>\n")
    if add_generation_prompt:
        parts.append("<start_of_turn>model\n")
    return "".join(parts)


_PHI3_TAGS = {"system": "<|system|>\n", "user": "<|user|>\n", "assistant": "<|assistant|>\n"}


def _phi3(turns: Turns, bos: str, eos: str, add_generation_prompt: bool) -> str | None:
    tags = _PHI3_TAGS
    parts = [f"{tags[role]}{content}<|end|>\n" for role, content in turns if role in tags]
    parts.append("<|assistant|>\n" if add_generation_prompt else eos)
    return "".join(parts)


RENDERERS: dict[str, Renderer] = {
    "chatml": _chatml,
    "llama3": _llama3,
    "mistral": _mistral,
    "gemma": _gemma,
    "phi3": _phi3,
}
"""Built-in template name -> renderer of exactly that template's Jinja source."""


def _clean(value: Any, bos: str, eos: str, depth: int) -> bool:
    """Plain JSON (see the module docstring) with no BOS/EOS text in any string."""
    kind = type(value)
    if kind is str:
        return not ((bos and bos in value) or (eos and eos in value))
    if value is None or kind in _SCALARS:
        return True
    if depth >= _MAX_DEPTH:
        return False
    if kind is list:
        return all(_clean(item, bos, eos, depth + 1) for item in value)
    if kind is dict:
        return all(
            type(key) is str and _clean(item, bos, eos, depth + 1) for key, item in value.items()
        )
    return False


def _extras_clean(message: dict[str, Any], bos: str, eos: str) -> bool:
    for key, value in message.items():
        if key == "role" or key == "content" or value is None:
            continue
        if type(key) is not str or not _clean(value, bos, eos, 1):
            return False
    return True


def _plain_turn(message: Any) -> bool:
    return (
        type(message) is dict
        and type(message.get("role")) is str
        and type(message.get("content")) is str
    )


def _fold(messages: list[Any]) -> list[Any] | None:
    """``template_inputs.fold_system`` for messages already known to be dicts with ``str``
    role and content; ``None`` where it raises."""
    system = messages[0]
    for index in range(1, len(messages)):
        user = messages[index]
        if user["role"] == "user":
            system_text = system["content"]
            folded = dict(user)
            folded["content"] = (
                f"{system_text}\n\n{user['content']}" if system_text else user["content"]
            )
            return [*messages[1:index], folded, *messages[index + 1 :]]
    return None


def _turns(chat: list[Any], bos: str, eos: str) -> Turns | None:
    """The ``(role, content)`` pairs of plain messages free of BOS/EOS text, else ``None``."""
    turns: Turns = []
    for message in chat:
        if type(message) is not dict:
            return None
        role = message.get("role")
        content = message.get("content")
        if type(role) is not str or type(content) is not str:
            return None
        if len(message) != 2 and not _extras_clean(message, bos, eos):
            return None
        if bos and (bos in content or bos in role):
            return None
        if eos and (eos in content or eos in role):
            return None
        turns.append((role, content))
    return turns


def render_fast(
    renderer: Renderer,
    messages: Any,
    tools: Any,
    add_generation_prompt: bool,
    *,
    bos_token: str,
    eos_token: str,
    supports_system: bool,
    emits_bos: bool,
) -> tuple[str, bool] | None:
    """``(text, folded_system)`` as ``chat_templates.render`` returns them for a template whose
    source ``renderer`` implements, or ``None`` to take the Jinja path (see the module
    docstring).  ``emits_bos`` is ``chat_templates._emits_bos(template)``."""
    if type(messages) is not list or not messages:
        return None
    folded = not supports_system and _plain_turn(messages[0]) and messages[0]["role"] == "system"
    chat = messages
    if folded:
        if not all(_plain_turn(message) for message in messages):
            return None
        folded_chat = _fold(messages)
        if folded_chat is None:
            return None
        chat = folded_chat
    turns = _turns(chat, bos_token, eos_token)
    if turns is None:
        return None
    if tools is not None and not _clean(tools, "", "", 0):
        return None
    text = renderer(turns, bos_token, eos_token, bool(add_generation_prompt))
    if text is None:
        return None
    bos = bos_token
    if bos:
        count = text.count(bos)
        if count > 1 or (count == 1 and not text.startswith(bos)) or (count == 0 and emits_bos):
            return None
    return text, folded
