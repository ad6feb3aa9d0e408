"""Production feedback records: the rated responses an app logs, in the shapes apps produce.

======================== =====================================================================
shape                    record
======================== =====================================================================
rating                   ``{"prompt" | "messages", "response"?, "rating", "id"?}``
choice                   ``{"prompt" | "messages", "responses": [a, b, ...], "choice", "id"?}``
======================== =====================================================================

``prompt`` is a string or a message array; ``messages`` is a message array that may end with the
rated assistant turn (then ``response`` may be left out). ``rating`` is ``up``/``down`` (and
their usual spellings), ``true``/``false``, or a 1..5 score (4-5 up, 1-2 down, 3 neutral).
``choice`` is the 0-based index of the picked response, a letter (``a``, ``b``...), the picked
text itself, or ``tie``. When a file names its fields differently, a :class:`FieldMapping` says
which field holds what (dotted paths reach into objects: ``meta.rating``).

Pure: no database, no web. Each parsed response carries the keys that pairing groups on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.formats.normalise import is_blank, kind, normalise_messages, text_content
from app.formats.records import Message, RecordInvalid, canonical_json

FIELDS = ("prompt", "messages", "response", "rating", "responses", "choice", "id")
"""The fields a feedback record may have; a mapping renames any of them."""

UP_WORDS = frozenset(
    [
        "up",
        "thumbs_up",
        "thumbsup",
        "thumbs-up",
        "+1",
        "👍",
        "positive",
        "good",
        "like",
        "liked",
        "true",
        "yes",
        "accept",
        "accepted",
    ]
)
DOWN_WORDS = frozenset(
    [
        "down",
        "thumbs_down",
        "thumbsdown",
        "thumbs-down",
        "-1",
        "👎",
        "negative",
        "bad",
        "dislike",
        "disliked",
        "false",
        "no",
        "reject",
        "rejected",
    ]
)
TIE_WORDS = frozenset({"tie", "equal", "same", "draw"})
MAX_LOG_ID = 200


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """Where each feedback field lives in the file's records (the identity by default)."""

    names: Mapping[str, str]

    @classmethod
    def of(cls, given: Mapping[str, str | None] | None) -> FieldMapping:
        """A mapping from the user's renames; blank entries keep the default name."""
        names = {field: field for field in FIELDS}
        for field, name in (given or {}).items():
            if field not in names:
                raise ValueError(f"unknown feedback field {field!r}; use {', '.join(FIELDS)}")
            if name is not None and name.strip():
                names[field] = name.strip()
        return cls(names)

    def renamed(self) -> dict[str, str]:
        """Only the fields that differ from their default name (what a project remembers)."""
        return {field: name for field, name in self.names.items() if name != field}

    def get(self, record: Mapping[str, Any], field: str) -> Any:
        """The field's value; None when absent or an empty string (a blank CSV cell)."""
        name = self.names[field]
        if name in record:
            value = record[name]
        elif "." in name:
            value = record
            for part in name.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    return None
                value = value[part]
        else:
            return None
        return None if value == "" else value

    def label(self, field: str) -> str:
        """The field as the user's file names it, for error messages."""
        return self.names[field]


@dataclass(frozen=True, slots=True)
class RatedResponse:
    """One response to a prompt and how it was rated."""

    prompt: list[Message]
    response: str
    label: bool | None
    """True: good (up, 4-5 of 5, picked); False: bad; None: neutral (3 of 5, a tie)."""
    score: int | None
    rating: str
    log_id: str | None
    prompt_key: str
    context_key: str
    response_key: str
    entry_hash: str


def normalise_text(text: str) -> str:
    """Whitespace collapsed, case folded: what makes two prompts "the same"."""
    return " ".join(text.split()).casefold()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _json_digest(value: Any) -> str:
    """sha256 of the canonical JSON of `value` (sorted keys, compact, UTF-8); orjson writes the
    same bytes as `canonical_json` several times faster, which falls back for what orjson
    refuses (a lone surrogate)."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        data = canonical_json(value).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def prompt_keys(prompt: list[Message]) -> tuple[str, str]:
    """(key of the last user turn, key of the whole conversation), both normalised."""
    last_user = next((m for m in reversed(prompt) if m["role"] == "user"), prompt[-1])
    context = [[m["role"], normalise_text(str(m.get("content") or ""))] for m in prompt]
    return (
        _digest(normalise_text(str(last_user.get("content") or ""))),
        _json_digest(context),
    )


def parse_feedback(record: Mapping[str, Any], mapping: FieldMapping) -> list[RatedResponse]:
    """The rated responses of one record (one for the rating shape, one per response for the
    choice shape). Raises :class:`RecordInvalid` naming the field as the file names it."""
    responses = mapping.get(record, "responses")
    prompt, trailing = _prompt(record, mapping)
    log_id = _log_id(mapping.get(record, "id"), mapping.label("id"))
    if responses is not None:
        texts = _responses(responses, mapping.label("responses"))
        picked = _choice(mapping.get(record, "choice"), texts, mapping.label("choice"))
        rated = []
        for index, text in enumerate(texts):
            if picked is None:
                label, rating = None, "tie"
            else:
                label, rating = index == picked, "chosen" if index == picked else "not chosen"
            rated.append(_rated(prompt, text, label, None, rating, log_id))
        return rated
    response = mapping.get(record, "response")
    if response is None:
        if trailing is None:
            raise RecordInvalid(
                mapping.label("response"),
                "missing (or end the messages with the rated assistant turn)",
            )
        text = trailing
    else:
        text = _response_text(response, mapping.label("response"))
    label, score, rating = parse_rating(mapping.get(record, "rating"), mapping.label("rating"))
    return [_rated(prompt, text, label, score, rating, log_id)]


def parse_rating(value: Any, field: str) -> tuple[bool | None, int | None, str]:
    """(label, 1..5 score or None, the rating as shown) of a rating value."""
    if value is None:
        raise RecordInvalid(field, "missing rating")
    if type(value) is bool:
        return value, None, "up" if value else "down"
    if type(value) is str:
        word = value.strip().lower()
        if word in UP_WORDS:
            return True, None, "up"
        if word in DOWN_WORDS:
            return False, None, "down"
        try:
            value = float(word)
        except ValueError:
            raise RecordInvalid(
                field, f"unknown rating {value[:40]!r}; use up/down, true/false or 1..5"
            ) from None
    if isinstance(value, int | float) and float(value).is_integer() and 1 <= value <= 5:
        score = int(value)
        label = True if score >= 4 else False if score <= 2 else None
        return label, score, f"{score}/5"
    raise RecordInvalid(
        field, f"rating {value!r} is not up/down, true/false or a whole number 1..5"
    )


def _prompt(record: Mapping[str, Any], mapping: FieldMapping) -> tuple[list[Message], str | None]:
    """The prompt conversation, and the text of a trailing assistant turn of `messages`."""
    messages = mapping.get(record, "messages")
    field = mapping.label("messages")
    trailing = None
    if messages is not None:
        prompt = normalise_messages(_maybe_json(messages), field)
        if prompt and prompt[-1]["role"] == "assistant":
            trailing = prompt.pop()["content"]
            if is_blank(trailing):
                trailing = None
    else:
        value = _maybe_json(mapping.get(record, "prompt"))
        field = mapping.label("prompt")
        if value is None:
            raise RecordInvalid(field, "missing (map the field that holds the prompt)")
        if type(value) is str:
            prompt = [{"role": "user", "content": value}]
        else:
            prompt = normalise_messages(value, field)
    if not prompt or all(is_blank(str(m.get("content") or "")) for m in prompt):
        raise RecordInvalid(field, "empty prompt")
    if prompt[-1]["role"] not in ("user", "tool"):
        last = prompt[-1]["role"]
        raise RecordInvalid(field, f"the prompt must end with a user turn, not {last}")
    return prompt, trailing


def _maybe_json(value: Any) -> Any:
    """A CSV cell holding a JSON array of messages is read as that array."""
    if type(value) is str and value.lstrip().startswith("[{"):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, list) and all(isinstance(v, dict) for v in decoded):
            return decoded
    return value


def _response_text(value: Any, field: str) -> str:
    if isinstance(value, dict):
        value = value.get("content")
    text = text_content(value, field) if value is not None else ""
    if is_blank(text):
        raise RecordInvalid(field, "empty response")
    return text


def _responses(value: Any, field: str) -> list[str]:
    if type(value) is str and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise RecordInvalid(field, "expected an array of responses, got text") from None
    if not isinstance(value, list):
        raise RecordInvalid(field, f"expected an array of responses, got {kind(value)}")
    if len(value) < 2:
        raise RecordInvalid(field, "needs at least two responses to choose between")
    texts = [_response_text(item, f"{field}[{i}]") for i, item in enumerate(value)]
    if len({normalise_text(t) for t in texts}) != len(texts):
        raise RecordInvalid(field, "two of the responses are the same text")
    return texts


def _choice(value: Any, texts: list[str], field: str) -> int | None:
    """The index of the picked response; None for a tie."""
    if value is None:
        raise RecordInvalid(field, "missing choice")
    if type(value) is str:
        word = value.strip()
        if word.lower() in TIE_WORDS:
            return None
        # The picked text itself first (responses may be "1" and "2"), then an index or letter.
        matches = [i for i, t in enumerate(texts) if normalise_text(t) == normalise_text(word)]
        if matches:
            return matches[0]
        if word.isdigit():
            value = int(word)
        elif len(word) == 1 and word.isalpha() and 0 <= ord(word.lower()) - ord("a") < len(texts):
            return ord(word.lower()) - ord("a")
        else:
            raise RecordInvalid(
                field, "not an index, a letter, 'tie' or the text of one of the responses"
            )
    if type(value) is int and 0 <= value < len(texts):
        return value
    raise RecordInvalid(field, f"choice {value!r} is not a 0-based index of the responses")


def _log_id(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is bool or not isinstance(value, str | int):
        raise RecordInvalid(field, f"expected a string or number, got {kind(value)}")
    text = str(value)
    if len(text) > MAX_LOG_ID:
        raise RecordInvalid(field, f"longer than {MAX_LOG_ID} characters")
    return text


def _rated(
    prompt: list[Message],
    response: str,
    label: bool | None,
    score: int | None,
    rating: str,
    log_id: str | None,
) -> RatedResponse:
    prompt_key, context_key = prompt_keys(prompt)
    identity = {"id": log_id, "prompt": prompt, "response": response, "label": label,
                "score": score, "rating": rating}  # fmt: skip
    return RatedResponse(
        prompt=prompt,
        response=response,
        label=label,
        score=score,
        rating=rating,
        log_id=log_id,
        prompt_key=prompt_key,
        context_key=context_key,
        response_key=_digest(normalise_text(response)),
        entry_hash=_json_digest(identity),
    )
