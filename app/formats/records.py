"""Normalised records produced by the format parsers, row errors, and content hashes.

A content hash identifies a record by what it says, not where it came from: two files that hold
the same conversation produce the same hash, which is what de-duplication keys on.  The hash is
the sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of::

    {"kind": "example", "messages": [...], "tools": [...] | null}
    {"kind": "pair", "prompt": [...], "chosen": [...], "rejected": [...]}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]
"""One chat turn: ``{"role", "content"}`` plus optional name, tool_calls, tool_call_id, weight."""

ROLES = ("system", "user", "assistant", "tool")


@dataclass(slots=True)
class ExampleRecord:
    """A supervised fine-tuning example."""

    messages: list[Message]
    """Normalised turns; a trailing empty assistant turn has been removed."""
    tools: list[dict[str, Any]] | None
    needs_response: bool
    """True when the final assistant turn is missing or empty (the row still imports)."""
    content_hash: str


@dataclass(slots=True)
class PairRecord:
    """A preference pair: a shared prompt and two competing continuations."""

    prompt: list[Message]
    chosen: list[Message]
    """At least one message; several when the two transcripts part before the final turn."""
    rejected: list[Message]
    content_hash: str


class RecordInvalid(Exception):
    """A record cannot be parsed; ``field`` names the offending field (``"*"``: whole record)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row of an input file was rejected."""

    number: int
    """1-based line or record number."""
    unit: str
    """``"line"`` (JSONL, CSV physical line) or ``"record"`` (JSON array, parquet, datasets)."""
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.unit} {self.number}, field {self.field}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "number": self.number,
            "field": self.field,
            "error": self.message,
        }


def canonical_json(obj: Any) -> str:
    """The canonical JSON text that content hashes are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Hashing is on the import hot path, where json.dumps would take longer than all the rest of
# the per-row work together.  So for the usual case -- messages that are exactly
# {"role", "content"} with string values, and no tools -- the canonical JSON is assembled here
# ("content" sorts before "role") with NUL standing in for the structural quotes.  The whole
# text is then escaped by a few str.replace calls, which skip absent characters at memchr speed;
# json's escaper, which works a character at a time, is several times slower.  One
# bytes.translate pass turns the NULs into quotes and flags any other control character, and
# anything unusual takes the exact json.dumps path.  Both give identical bytes; tests check
# this on adversarial strings.
_sha256 = hashlib.sha256
_Q = "\x00"
_OPEN = "{\x00content\x00:\x00"
_TAIL = {role: f"\x00,\x00role\x00:\x00{role}\x00}}" for role in ROLES}
_EXAMPLE_HEAD = "{\x00kind\x00:\x00example\x00,\x00messages\x00:"
_EXAMPLE_END = ",\x00tools\x00:null}"
# Applied to the UTF-8 text as a last step: placeholder NULs become quotes, and the control
# characters JSON writes as \b, \f or \u00XX become NUL, so a NUL left afterwards means "take the
# exact path".
_RARE_CONTROLS = bytes(code for code in range(1, 0x20) if code not in b"\n\r\t")
_FINISH_TABLE = bytes.maketrans(b"\x00" + _RARE_CONTROLS, b'"' + bytes(len(_RARE_CONTROLS)))


def _quoted_messages(messages: list[Message]) -> str | None:
    """A message list as NUL-quoted, unescaped JSON; None unless every message is usual."""
    parts = []
    for message in messages:
        try:
            content = message["content"]
            tail = _TAIL[message["role"]]
        except (KeyError, TypeError):
            return None
        # A NUL of the content's own would turn into a quote.
        if type(content) is not str or len(message) != 2 or _Q in content:
            return None
        parts.append(_OPEN + content + tail)
    return "[" + ",".join(parts) + "]"


def _digest_quoted(text: str) -> str | None:
    """sha256 hex of the canonical JSON whose NUL-quoted, unescaped form is ``text``; None when
    it needs the exact path: a control character other than \\n, \\r, \\t, or a lone surrogate."""
    if "\\" in text:  # first, so the backslashes added below are not doubled
        text = text.replace("\\", "\\\\")
    if '"' in text:
        text = text.replace('"', '\\"')
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    if "\t" in text:
        text = text.replace("\t", "\\t")
    try:
        data = text.encode().translate(_FINISH_TABLE)
    except UnicodeEncodeError:  # a lone surrogate (JSON escapes can produce them)
        return None
    if 0 in data:  # a NUL byte: there was a control character
        return None
    return _sha256(data).hexdigest()


def _exact_digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(record).encode("utf-8", "surrogatepass")).hexdigest()


def example_hash(messages: list[Message], tools: list[dict[str, Any]] | None) -> str:
    """Content hash of an SFT example."""
    if tools is None:
        quoted = _quoted_messages(messages)
        if quoted is not None:
            digest = _digest_quoted(_EXAMPLE_HEAD + quoted + _EXAMPLE_END)
            if digest is not None:
                return digest
    return _exact_digest({"kind": "example", "messages": messages, "tools": tools})


_SINGLE_HEAD = f"{_EXAMPLE_HEAD}[{_OPEN}"
_SINGLE_MIDDLE = f"{_TAIL['user']},{_OPEN}"
_SINGLE_END = f"{_TAIL['assistant']}]{_EXAMPLE_END}"
_SINGLE_USER_END = f"{_TAIL['user']}]{_EXAMPLE_END}"


def single_turn_hash(user: str, assistant: str) -> str:
    """``example_hash([user turn, assistant turn], None)``, or of the user turn alone when
    ``assistant`` is empty: the alpaca fast path, which skips the generic message walk."""
    if _Q not in user and _Q not in assistant:
        if assistant:
            text = f"{_SINGLE_HEAD}{user}{_SINGLE_MIDDLE}{assistant}{_SINGLE_END}"
        else:
            text = f"{_SINGLE_HEAD}{user}{_SINGLE_USER_END}"
        digest = _digest_quoted(text)
        if digest is not None:
            return digest
    messages = [{"role": "user", "content": user}]
    if assistant:
        messages.append({"role": "assistant", "content": assistant})
    return example_hash(messages, None)


def pair_hash(prompt: list[Message], chosen: list[Message], rejected: list[Message]) -> str:
    """Content hash of a preference pair."""
    quoted_prompt = _quoted_messages(prompt)
    quoted_chosen = _quoted_messages(chosen)
    quoted_rejected = _quoted_messages(rejected)
    if quoted_prompt is not None and quoted_chosen is not None and quoted_rejected is not None:
        digest = _digest_quoted(
            f"{{\x00chosen\x00:{quoted_chosen},\x00kind\x00:\x00pair\x00,"
            f"\x00prompt\x00:{quoted_prompt},\x00rejected\x00:{quoted_rejected}}}"
        )
        if digest is not None:
            return digest
    record = {"kind": "pair", "prompt": prompt, "chosen": chosen, "rejected": rejected}
    return _exact_digest(record)
