"""The labeling form's state: read from a label (its autosaved draft restored), from a posted
form, or from the conflict page's "keep mine" form, and turned back into a conversation.

Each turn row carries `src`, the index of the stored turn it edits (empty for a turn the
annotator added), so keys the form does not show (tool calls, names, weights) are kept.
Textareas post CRLF line ends; they are normalised so an untouched turn compares equal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from app.errors import Invalid
from app.items.kinds import Item
from app.labeling.schemas import NOTE_MAX
from app.models import Example, Label

NEW_TURN_ROLES = ("assistant", "user", "system")
MAX_TURNS = 500


@dataclass(slots=True)
class TurnRow:
    key: int
    src: int | None  # index in the stored conversation; None for an added turn
    message: dict[str, Any]  # what the row shows (content may be the annotator's edit)

    @property
    def text(self) -> str | None:
        """The textarea's value; None for structured (non-string) content, which stays as is."""
        content = self.message.get("content")
        return content if isinstance(content, str) else None

    @property
    def role(self) -> str:
        return str(self.message.get("role") or "")


@dataclass(slots=True)
class FormState:
    version: int
    edited: bool = False
    turns: list[TurnRow] = field(default_factory=list)
    rating: int | None = None
    tags: list[str] = field(default_factory=list)
    note: str = ""
    choice: str = ""  # pairs: "a", "b", "tie" or ""
    restored: bool = False  # the turns come from an autosaved draft

    def messages(self, item: Item) -> list[dict[str, Any]] | None:
        """The edited conversation, or None when the turns were not edited."""
        if not isinstance(item, Example) or not self.edited:
            return None
        messages = [row.message for row in self.turns]
        return None if messages == item.messages else messages


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _rows_from_messages(messages: Sequence[Mapping[str, Any]]) -> list[TurnRow]:
    return [TurnRow(i, i, dict(m)) for i, m in enumerate(messages)]


def _row(key: int, src: Any, role: Any, content: Any, stored: list[dict[str, Any]]) -> TurnRow:
    index = int(src) if isinstance(src, int | str) and str(src).isdigit() else None
    if index is not None and index < len(stored):
        message = dict(stored[index])
    else:
        index = None
        role = str(role or "assistant")
        if role not in NEW_TURN_ROLES:
            raise Invalid(f"a new turn's role is one of {', '.join(NEW_TURN_ROLES)}")
        message = {"role": role}
    if isinstance(content, str):
        message["content"] = _normalise(content)
    elif index is None:
        message["content"] = ""
    return TurnRow(key, index, message)


def from_label(item: Item, label: Label | None, choice: str = "") -> FormState:
    """What the view shows: the label's saved values, its autosaved turns when it has edits."""
    stored = item.messages if isinstance(item, Example) else []
    state = FormState(version=item.version, turns=_rows_from_messages(stored), choice=choice)
    if label is None:
        return state
    state.rating, state.tags, state.note = label.rating, list(label.tags or []), label.note
    draft = label.draft or {}
    if isinstance(draft.get("choice"), str) and draft["choice"] in ("a", "b", "tie"):
        state.choice = draft["choice"]
    turns = draft.get("turns")
    if draft.get("edited") and isinstance(turns, list) and isinstance(item, Example):
        rows = [
            _row(i, t.get("src"), t.get("role"), t.get("content"), stored)
            for i, t in enumerate(turns[:MAX_TURNS])
            if isinstance(t, dict)
        ]
        state.turns, state.edited, state.restored = rows, True, True
        state.version = label.item_version or item.version
    return state


def _int(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Invalid(f"{name} must be a number") from None


def from_form(form: FormData, item: Item) -> FormState:
    """The posted labeling form (or the conflict page's "keep mine" form)."""
    stored = item.messages if isinstance(item, Example) else []
    version = _int(form.get("version"), "version")
    state = FormState(
        version=item.version if version is None else version,
        edited=form.get("edited") == "1",
        rating=_int(form.get("rating"), "rating"),
        tags=[str(t) for t in form.getlist("tags")],
        note=_normalise(str(form.get("note") or ""))[: NOTE_MAX + 1],
        choice=str(form.get("choice") or ""),
    )
    mine = form.get("messages_json")
    if isinstance(mine, str) and mine:
        try:
            messages = json.loads(mine)
        except ValueError:
            raise Invalid("messages_json is not JSON") from None
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise Invalid("messages_json must be a list of turns")
        state.turns = [TurnRow(i, None, m) for i, m in enumerate(messages)]
        state.edited = True
        return state
    keys = form.getlist("turn")[:MAX_TURNS]
    if not keys:
        state.turns = _rows_from_messages(stored)
        return state
    state.turns = [
        _row(i, form.get(f"src_{k}"), form.get(f"role_{k}"), form.get(f"content_{k}"), stored)
        for i, k in enumerate(keys)
    ]
    return state
