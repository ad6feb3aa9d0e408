"""Row errors, RecordInvalid and content hashes."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import pytest

from app.formats import RecordInvalid, RowError, example_hash, pair_hash
from app.formats.records import single_turn_hash


def reference_hash(obj: dict[str, Any]) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def test_row_error_text_and_dict() -> None:
    error = RowError(37, "line", "json", "invalid JSON: Expecting ',' delimiter (col 12)")
    assert str(error) == "line 37, field json: invalid JSON: Expecting ',' delimiter (col 12)"
    assert error.to_dict() == {
        "unit": "line",
        "number": 37,
        "field": "json",
        "error": "invalid JSON: Expecting ',' delimiter (col 12)",
    }


def test_record_invalid_keeps_field_and_message() -> None:
    exc = RecordInvalid("messages[2].role", "missing role")
    assert (exc.field, exc.message) == ("messages[2].role", "missing role")
    assert str(exc) == "messages[2].role: missing role"


def test_example_hash_is_sha256_of_canonical_json() -> None:
    messages = [{"role": "user", "content": 'Hi "there"\n'}, {"role": "assistant", "content": "é"}]
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert example_hash(messages, None) == reference_hash(
        {"kind": "example", "messages": messages, "tools": None}
    )
    assert example_hash(messages, tools) == reference_hash(
        {"kind": "example", "messages": messages, "tools": tools}
    )
    assert example_hash(messages, None) != example_hash(messages, tools)


def test_pair_hash_is_sha256_of_canonical_json() -> None:
    prompt = [{"role": "user", "content": "Q"}]
    chosen = [{"role": "assistant", "content": "good"}]
    rejected = [{"role": "assistant", "content": "bad"}]
    assert pair_hash(prompt, chosen, rejected) == reference_hash(
        {"kind": "pair", "prompt": prompt, "chosen": chosen, "rejected": rejected}
    )
    assert pair_hash(prompt, chosen, rejected) != pair_hash(prompt, rejected, chosen)


_NASTY = [*'a"\\\n\r\t\x00\x01\x1f\x7f\b\fé€😀\ud800\u2028 /u', "\\n"]


def test_fast_hash_path_matches_json_dumps_on_adversarial_text() -> None:
    # The hash writes simple messages itself; it must agree byte for byte with json.dumps.
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(_NASTY) for _ in range(rng.randint(0, 10)))
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": text[:2]},
            {"role": "user", "content": text},
            {"role": "assistant", "content": text[::-1]},
        ]
        if rng.random() < 0.3:
            messages[2]["weight"] = 0  # not the simple shape: the exact path
        expected = reference_hash({"kind": "example", "messages": messages, "tools": None})
        assert example_hash(messages, None) == expected
        user, answer = messages[1]["content"], text + "!"
        pair_of_turns = [messages[1], {"role": "assistant", "content": answer}]
        expected = reference_hash({"kind": "example", "messages": pair_of_turns, "tools": None})
        assert single_turn_hash(user, answer) == expected
        expected = reference_hash({"kind": "example", "messages": messages[1:2], "tools": None})
        assert single_turn_hash(user, "") == expected
        prompt, chosen, rejected = messages[:2], messages[2:], [{"role": "tool", "content": text}]
        assert pair_hash(prompt, chosen, rejected) == reference_hash(
            {"kind": "pair", "prompt": prompt, "chosen": chosen, "rejected": rejected}
        )


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "user", "content": None}],
        [{"role": "user"}],
        [{"role": "robot", "content": "x"}],
        [{"role": ["user"], "content": "x"}],
        [{"role": "user", "content": "x", "name": "bob"}],
        [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
    ],
)
def test_hash_of_unusual_messages_uses_the_exact_path(messages: list[Any]) -> None:
    assert example_hash(messages, None) == reference_hash(
        {"kind": "example", "messages": messages, "tools": None}
    )
