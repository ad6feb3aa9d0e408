"""Preference pairs: TRL preference records and HH-RLHF transcripts."""

from __future__ import annotations

from typing import Any

import pytest

from app.formats import PairRecord, RecordInvalid, pair_hash, parse_record


def pair(record: dict[str, Any], fmt: str) -> PairRecord:
    parsed = parse_record(record, fmt)
    assert isinstance(parsed, PairRecord)
    assert parsed.content_hash == pair_hash(parsed.prompt, parsed.chosen, parsed.rejected)
    return parsed


def invalid(record: dict[str, Any], fmt: str) -> RecordInvalid:
    with pytest.raises(RecordInvalid) as info:
        parse_record(record, fmt)
    return info.value


TRANSCRIPT = "\n\nHuman: a\n\nAssistant: b"


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# -- TRL preference -----------------------------------------------------------------------------


def test_preference_with_strings() -> None:
    parsed = pair(
        {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."}, "preference"
    )
    assert parsed.prompt == [user("Capital of France?")]
    assert parsed.chosen == [bot("Paris.")]
    assert parsed.rejected == [bot("Lyon.")]


def test_preference_with_message_lists() -> None:
    record = {
        "prompt": [{"role": "system", "content": "Be terse."}, user("Capital of France?")],
        "chosen": [bot("Paris.")],
        "rejected": [bot("Lyon.")],
    }
    parsed = pair(record, "preference")
    assert parsed.prompt == record["prompt"]
    assert parsed.chosen == [bot("Paris.")]


def test_preference_implicit_prompt() -> None:
    record = {
        "chosen": [user("Hi"), bot("Hello!"), user("Capital of France?"), bot("Paris.")],
        "rejected": [user("Hi"), bot("Hello!"), user("Capital of France?"), bot("No idea.")],
    }
    parsed = pair(record, "preference")
    assert parsed.prompt == [user("Hi"), bot("Hello!"), user("Capital of France?")]
    assert parsed.chosen == [bot("Paris.")]
    assert parsed.rejected == [bot("No idea.")]


def test_preference_prompt_repeated_in_responses_is_removed() -> None:
    # UltraFeedback-style: the prompt string, and whole conversations as chosen/rejected.
    record = {
        "prompt": "Q?",
        "chosen": [user("Q?"), bot("good")],
        "rejected": [user("Q?"), bot("bad")],
    }
    parsed = pair(record, "preference")
    assert (parsed.prompt, parsed.chosen, parsed.rejected) == (
        [user("Q?")],
        [bot("good")],
        [bot("bad")],
    )


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({"prompt": "Q", "chosen": "", "rejected": "b"}, "chosen", "empty response"),
        ({"prompt": "Q", "chosen": "a", "rejected": "  "}, "rejected", "empty response"),
        (
            {"prompt": "Q", "chosen": "=", "rejected": "="},
            "rejected",
            "chosen and rejected are identical",
        ),
        ({"chosen": "a", "rejected": "b"}, "prompt", "missing"),
        ({"prompt": "Q", "rejected": "b"}, "chosen", "missing"),
        ({"chosen": [user("Q"), bot("a")]}, "rejected", "missing"),
        ({"prompt": "Q", "chosen": 1, "rejected": "b"}, "chosen", "expected a string or an array"),
        (
            {"prompt": "Q", "chosen": [{"role": "bot"}], "rejected": "b"},
            "chosen[0].role",
            "unknown role",
        ),
    ],
)
def test_preference_errors(record: dict[str, Any], field: str, message: str) -> None:
    error = invalid(record, "preference")
    assert error.field == field
    assert error.message.startswith(message)


# -- HH-RLHF -----------------------------------------------------------------------------------


def test_hh_pair_differs_in_last_turn() -> None:
    shared = "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Tell me a joke"
    record = {
        "chosen": shared + "\n\nAssistant:  A pun. ",
        "rejected": shared + "\n\nAssistant: No.",
    }
    parsed = pair(record, "hh")
    assert parsed.prompt == [user("Hi"), bot("Hello."), user("Tell me a joke")]
    assert parsed.chosen == [bot("A pun.")]
    assert parsed.rejected == [bot("No.")]


def test_hh_first_turn_without_leading_newlines() -> None:
    parsed = pair(
        {
            "chosen": "Human: Hi\n\nAssistant: Hello.",
            "rejected": "Human: Hi\n\nAssistant: Go away.",
        },
        "hh",
    )
    assert parsed.prompt == [user("Hi")]
    assert (parsed.chosen, parsed.rejected) == ([bot("Hello.")], [bot("Go away.")])


def test_hh_transcripts_that_part_early_keep_multi_turn_responses() -> None:
    record = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Joke?\n\nAssistant: A pun.",
        "rejected": "\n\nHuman: Hi\n\nAssistant: What?\n\nHuman: Joke?\n\nAssistant: No.",
    }
    parsed = pair(record, "hh")
    assert parsed.prompt == [user("Hi")]
    assert parsed.chosen == [bot("Hello."), user("Joke?"), bot("A pun.")]
    assert parsed.rejected == [bot("What?"), user("Joke?"), bot("No.")]


def test_hh_empty_final_response() -> None:
    record = {
        "chosen": "\n\nHuman: Address?\n\nAssistant: ",
        "rejected": "\n\nHuman: Address?\n\nAssistant: No.",
    }
    error = invalid(record, "hh")
    assert (error.field, error.message) == ("chosen", "empty response")


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"chosen": "Hello there", "rejected": TRANSCRIPT}, "chosen"),
        ({"chosen": TRANSCRIPT, "rejected": None}, "rejected"),
        ({"chosen": TRANSCRIPT, "rejected": TRANSCRIPT}, "rejected"),
    ],
)
def test_hh_errors(record: dict[str, Any], field: str) -> None:
    assert invalid(record, "hh").field == field
