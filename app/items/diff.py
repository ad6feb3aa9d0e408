"""Readable diffs of revision snapshots.

A revision stores the item's fields before and after a change. This turns the two snapshots into
something a reviewer can read: one entry per changed field; conversations (messages, prompt,
chosen, rejected) turn by turn, each changed turn line by line, with the changed words marked
inside a changed line. Pure: no database and no HTML (templates render the parts, escaped).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CONVERSATION_FIELDS = ("messages", "prompt", "chosen", "rejected")
FIELD_ORDER = (*CONVERSATION_FIELDS, "status", "rating", "tags", "split")
CONTEXT_LINES = 2  # unchanged lines kept around a change; longer runs collapse to a count
# Below this word similarity a changed line reads better as a removed line and an added one.
MIN_WORD_RATIO = 0.3
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
_TURN_META = ("name", "tool_call_id", "tool_calls", "weight")


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text inside a changed line: "equal", "insert" or "delete"."""

    op: str
    text: str


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a turn's diff.

    op: "equal" | "insert" | "delete" | "change" (old and new words in `segments`) | "skip"
    (`skipped` unchanged lines left out).
    """

    op: str
    segments: tuple[Segment, ...] = ()
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class TurnDiff:
    """One turn: "equal", "insert" (added), "delete" (removed) or "change"."""

    op: str
    number: int  # 1-based position (in the new conversation; in the old one when removed)
    role: str  # "user", or "user → assistant" when the role changed
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """A changed field: a conversation (`turns`) or a plain value (`before` → `after`)."""

    name: str
    kind: str  # "conversation" | "value"
    turns: tuple[TurnDiff, ...] = ()
    before: str = ""
    after: str = ""
    added: tuple[str, ...] = field(default_factory=tuple)  # list values (tags)
    removed: tuple[str, ...] = field(default_factory=tuple)


_MISSING = object()


def diff_snapshots(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[FieldDiff]:
    """Every field whose value differs between the two snapshots, conversations first."""
    old, new = before or {}, after or {}
    names = [k for k in FIELD_ORDER if k in old or k in new]
    names += sorted(k for k in set(old) | set(new) if k not in FIELD_ORDER)
    out: list[FieldDiff] = []
    for name in names:
        was, now = old.get(name, _MISSING), new.get(name, _MISSING)
        if was == now or (_empty(was) and _empty(now)):
            continue
        if name in CONVERSATION_FIELDS and _is_turns(was) and _is_turns(now):
            out.append(
                FieldDiff(name, "conversation", turns=diff_conversation(_turns(was), _turns(now)))
            )
        else:
            out.append(_value_diff(name, was, now))
    return out


def changed_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """Names of the fields that differ, sorted."""
    old, new = before or {}, after or {}
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _empty(value: object) -> bool:
    """Missing, null and empty read the same ("—"), e.g. in a creation's snapshot."""
    return value is _MISSING or value is None or value == [] or value == ""


def _is_turns(value: object) -> bool:
    return value is _MISSING or value is None or isinstance(value, list)


def _turns(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [t if isinstance(t, Mapping) else {"role": "?", "content": t} for t in value]


def _value_text(value: object) -> str:
    if value is _MISSING or value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value) if value else "—"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _value_diff(name: str, was: object, now: object) -> FieldDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    old_list = was if isinstance(was, list) else [] if was in (_MISSING, None) else None
    new_list = now if isinstance(now, list) else [] if now in (_MISSING, None) else None
    if old_list is not None and new_list is not None:
        old_items = [_value_text(v) for v in old_list]
        new_items = [_value_text(v) for v in new_list]
        added = tuple(v for v in new_items if v not in old_items)
        removed = tuple(v for v in old_items if v not in new_items)
    return FieldDiff(
        name, "value", before=_value_text(was), after=_value_text(now), added=added, removed=removed
    )


def turn_text(turn: Mapping[str, Any]) -> str:
    """What a reader compares in a turn: its content, then any tool metadata as extra lines."""
    content = turn.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = json.dumps(content, ensure_ascii=False, indent=2, sort_keys=True)
    extras = [
        f"[{key}] {json.dumps(turn[key], ensure_ascii=False, sort_keys=True)}"
        for key in _TURN_META
        if turn.get(key) is not None
    ]
    return "\n".join([text, *extras]) if extras else text


def _role(turn: Mapping[str, Any]) -> str:
    return str(turn.get("role") or "unknown")


def _key(turn: Mapping[str, Any]) -> str:
    return json.dumps(turn, ensure_ascii=False, sort_keys=True, default=str)


def diff_conversation(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> tuple[TurnDiff, ...]:
    """Align the turns (unchanged turns stay put), then diff each changed turn's lines."""
    matcher = difflib.SequenceMatcher(
        None, [_key(t) for t in old], [_key(t) for t in new], autojunk=False
    )
    out: list[TurnDiff] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.extend(TurnDiff("equal", j1 + k + 1, _role(new[j1 + k])) for k in range(j2 - j1))
            continue
        pairs = min(i2 - i1, j2 - j1)
        for k in range(pairs):
            was, now = old[i1 + k], new[j1 + k]
            role = _role(now) if _role(was) == _role(now) else f"{_role(was)} → {_role(now)}"
            out.append(
                TurnDiff("change", j1 + k + 1, role, diff_lines(turn_text(was), turn_text(now)))
            )
        for k in range(pairs, i2 - i1):
            was = old[i1 + k]
            lines = tuple(_whole("delete", s) for s in _lines(turn_text(was)))
            out.append(TurnDiff("delete", i1 + k + 1, _role(was), lines))
        for k in range(pairs, j2 - j1):
            now = new[j1 + k]
            lines = tuple(_whole("insert", s) for s in _lines(turn_text(now)))
            out.append(TurnDiff("insert", j1 + k + 1, _role(now), lines))
    return tuple(out)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def diff_lines(old: str, new: str, context: int = CONTEXT_LINES) -> tuple[Line, ...]:
    """Line-level diff of two texts; a changed line carries its word-level changes."""
    a, b = _lines(old), _lines(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    lines: list[Line] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            lines.extend(_whole("equal", s) for s in a[i1:i2])
            continue
        pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(pairs):
            lines.extend(_changed_line(a[i1 + k], b[j1 + k]))
        lines.extend(_whole("delete", s) for s in a[i1 + pairs : i2])
        lines.extend(_whole("insert", s) for s in b[j1 + pairs : j2])
    return tuple(_collapse(lines, context))


def _whole(op: str, text: str) -> Line:
    return Line(op, (Segment(op, text),))


def _changed_line(old: str, new: str) -> list[Line]:
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    words = difflib.SequenceMatcher(
        None, [t for t in a if not t.isspace()], [t for t in b if not t.isspace()], autojunk=False
    )
    if words.ratio() < MIN_WORD_RATIO:
        return [_whole("delete", old), _whole("insert", new)]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    segments: list[Segment] = []

    def add(op: str, text: str) -> None:
        if not text:
            return
        if segments and segments[-1].op == op:
            segments[-1] = Segment(op, segments[-1].text + text)
        else:
            segments.append(Segment(op, text))

    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            add("equal", "".join(a[i1:i2]))
        else:
            add("delete", "".join(a[i1:i2]))
            add("insert", "".join(b[j1:j2]))
    return [Line("change", tuple(segments))]


def _collapse(lines: list[Line], context: int) -> list[Line]:
    """Keep `context` unchanged lines on each side of a change; count the rest."""
    changed = [i for i, line in enumerate(lines) if line.op != "equal"]
    if not changed:
        return lines
    keep: set[int] = set()
    for i in changed:
        keep.update(range(max(0, i - context), min(len(lines), i + context + 1)))
    out: list[Line] = []
    skipped = 0
    for i, line in enumerate(lines):
        if i in keep:
            if skipped:
                out.append(Line("skip", skipped=skipped))
                skipped = 0
            out.append(line)
        else:
            skipped += 1
    if skipped:
        out.append(Line("skip", skipped=skipped))
    return out
