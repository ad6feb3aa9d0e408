"""The text of a training item as the checks read it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def message_text(messages: Sequence[dict[str, Any]]) -> str:
    """Every turn's text, one turn per line block."""
    return "\n".join(str(m.get("content") or "") for m in messages if m.get("content"))


def prompt_text(messages: Sequence[dict[str, Any]]) -> str:
    """The user turns (where paraphrased eval questions live); all turns when there are none."""
    user = [m for m in messages if m.get("role") == "user" and m.get("content")]
    return message_text(user) if user else message_text(messages)
