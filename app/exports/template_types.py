"""A chat template, its rendering, and the error it raises (pure)."""

from __future__ import annotations

from dataclasses import dataclass


class TemplateError(ValueError):
    """A chat template is unknown, unreadable, broken, or refused the conversation."""


class TemplateOverLimit(TemplateError):
    """The template went past a rendering limit (time, output, recursion: template_limits)."""


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    source: str
    """The Jinja template text."""
    bos_token: str
    eos_token: str
    supports_system: bool
    """False: a leading system turn is folded into the first user turn before rendering."""


@dataclass(frozen=True)
class Rendered:
    text: str
    folded_system: bool
