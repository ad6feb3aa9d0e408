"""Feedback record shapes, ratings, field mapping and keys (pure: app.formats.feedback)."""

from __future__ import annotations

from typing import Any

import pytest

from app.formats import RecordInvalid
from app.formats.feedback import FieldMapping, parse_feedback, parse_rating

PLAIN = FieldMapping.of(None)


def one(record: dict[str, Any], mapping: FieldMapping = PLAIN):  # type: ignore[no-untyped-def]
    rated = parse_feedback(record, mapping)
    assert len(rated) == 1
    return rated[0]


@pytest.mark.parametrize(
    ("value", "label", "score"),
    [
        ("up", True, None), ("DOWN", False, None), ("thumbs_up", True, None), ("👎", False, None),
        (True, True, None), (False, False, None), ("true", True, None), ("false", False, None),
        (5, True, 5), (4, True, 4), (3, None, 3), (2, False, 2), (1, False, 1), ("4", True, 4),
        (4.0, True, 4), (" 2 ", False, 2),
    ],
)  # fmt: skip
def test_ratings(value: Any, label: bool | None, score: int | None) -> None:
    got_label, got_score, _shown = parse_rating(value, "rating")
    assert (got_label, got_score) == (label, score)


@pytest.mark.parametrize("value", [0, 6, -1, 2.5, "meh", "", None, [1], {"v": 1}])
def test_bad_ratings_name_the_field(value: Any) -> None:
    with pytest.raises(RecordInvalid) as err:
        parse_rating(value, "stars")
    assert err.value.field == "stars"


def test_prompt_string_and_response() -> None:
    rated = one({"prompt": "Capital of France?", "response": "Paris.", "rating": "up"})
    assert rated.prompt == [{"role": "user", "content": "Capital of France?"}]
    assert rated.response == "Paris."
    assert rated.label is True and rated.rating == "up"


def test_messages_with_trailing_assistant_turn_is_the_response() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
    rated = one({"messages": messages, "rating": 5, "id": 42})
    assert rated.response == "Paris."
    assert rated.prompt == messages[:-1]
    assert rated.log_id == "42" and rated.score == 5


def test_normalised_keys_ignore_whitespace_and_case_but_context_does_not_merge() -> None:
    a = one({"prompt": "Capital  of\nFRANCE?", "response": "Paris", "rating": "up"})
    b = one({"prompt": " capital of france? ", "response": "paris ", "rating": "down"})
    assert a.prompt_key == b.prompt_key and a.response_key == b.response_key
    earlier = [
        {"role": "user", "content": "We talk about Texas."},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "capital of france?"},
    ]
    c = one({"messages": earlier, "response": "Paris", "rating": "up"})
    assert c.prompt_key == a.prompt_key  # same last user turn
    assert c.context_key != a.context_key  # different conversation before it
    assert a.entry_hash != b.entry_hash


def test_choice_shape_gives_one_rated_response_each() -> None:
    record = {"prompt": "2+2?", "responses": ["4", "5"], "choice": 0}
    chosen, other = parse_feedback(record, PLAIN)
    assert (chosen.response, chosen.label) == ("4", True)
    assert (other.response, other.label) == ("5", False)
    assert chosen.prompt_key == other.prompt_key
    for choice in ("b", "B", "1", 1, "5"):
        first, second = parse_feedback({**record, "choice": choice}, PLAIN)
        assert (first.label, second.label) == (False, True)
    tie = parse_feedback({**record, "choice": "tie"}, PLAIN)
    assert [r.label for r in tie] == [None, None]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"response": "x", "rating": "up"}, "prompt"),
        ({"prompt": "q", "rating": "up"}, "response"),
        ({"prompt": "q", "response": "  ", "rating": "up"}, "response"),
        ({"prompt": "q", "response": "a"}, "rating"),
        ({"prompt": "  ", "response": "a", "rating": "up"}, "prompt"),
        ({"prompt": "q", "responses": ["a"], "choice": 0}, "responses"),
        ({"prompt": "q", "responses": ["a", "A "], "choice": 0}, "responses"),
        ({"prompt": "q", "responses": ["a", "b"], "choice": 2}, "choice"),
        ({"prompt": "q", "responses": ["a", "b"]}, "choice"),
        ({"prompt": "q", "responses": "a", "choice": 0}, "responses"),
        ({"messages": [{"role": "user", "content": "q"}], "rating": "up"}, "response"),
        ({"messages": [{"role": "robot", "content": "q"}], "response": "a", "rating": 1},
         "messages[0].role"),
        ({"prompt": "q", "response": "a", "rating": "up", "id": {"x": 1}}, "id"),
    ],
)  # fmt: skip
def test_bad_records_name_the_field(record: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordInvalid) as err:
        parse_feedback(record, PLAIN)
    assert err.value.field == field


def test_mapping_renames_and_reaches_into_objects() -> None:
    mapping = FieldMapping.of({"prompt": "question", "response": "answer",
                               "rating": "meta.thumb", "id": "event", "choice": ""})  # fmt: skip
    record = {"question": "q?", "answer": "a.", "meta": {"thumb": "down"}, "event": "e-1"}
    rated = one(record, mapping)
    assert (rated.response, rated.label, rated.log_id) == ("a.", False, "e-1")
    assert mapping.renamed() == {"prompt": "question", "response": "answer",
                                 "rating": "meta.thumb", "id": "event"}  # fmt: skip
    with pytest.raises(RecordInvalid) as err:
        parse_feedback({"question": "q?", "answer": "a."}, mapping)
    assert err.value.field == "meta.thumb"  # the user's own name for it
    with pytest.raises(ValueError, match="unknown feedback field"):
        FieldMapping.of({"stars": "x"})


def test_csv_cells_holding_json() -> None:
    rated = parse_feedback(
        {"prompt": '[{"role": "user", "content": "q"}]', "responses": '["a", "b"]', "choice": "a"},
        PLAIN,
    )
    assert rated[0].prompt == [{"role": "user", "content": "q"}]
    assert [r.label for r in rated] == [True, False]


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [["user", 'é 漢字 "q"\n\t\\ \u2028 \x01']], "c": None, "d": True},
        {"z": {"y": 1.5, "x": -2}},
        {"lone": "\ud800"},
    ],
)
def test_fast_hash_is_the_canonical_json_hash(value: Any) -> None:
    import hashlib

    from app.formats.feedback import _json_digest
    from app.formats.records import canonical_json

    expected = hashlib.sha256(canonical_json(value).encode("utf-8", "surrogatepass")).hexdigest()
    assert _json_digest(value) == expected
