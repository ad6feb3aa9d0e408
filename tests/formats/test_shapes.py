"""Format detection and the SFT example shapes."""

from __future__ import annotations

from typing import Any

import pytest

from app.formats import (
    FORMATS,
    ExampleRecord,
    RecordInvalid,
    detect_format,
    example_hash,
    parse_record,
)


def text_part(text: str) -> dict[str, str]:
    return {"type": "text", "text": text}


def example(record: dict[str, Any], fmt: str) -> ExampleRecord:
    parsed = parse_record(record, fmt)
    assert isinstance(parsed, ExampleRecord)
    assert parsed.content_hash == example_hash(parsed.messages, parsed.tools)
    return parsed


def invalid(record: dict[str, Any], fmt: str) -> RecordInvalid:
    with pytest.raises(RecordInvalid) as info:
        parse_record(record, fmt)
    return info.value


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "fmt"),
    [
        ({"messages": [], "instruction": "x"}, "messages"),
        ({"conversations": [], "instruction": "x"}, "sharegpt"),
        ({"instruction": "x", "output": "y", "prompt": "z"}, "alpaca"),
        ({"chosen": "\n\nHuman: hi\n\nAssistant: a", "rejected": "..."}, "hh"),
        ({"prompt": "p", "chosen": "Human: hi Assistant: a", "rejected": "b"}, "preference"),
        ({"chosen": [{"role": "user", "content": "x"}], "rejected": []}, "preference"),
        ({"chosen": "a", "rejected": "b", "prompt": "p", "completion": "c"}, "preference"),
        ({"prompt": "p", "completion": "c"}, "prompt_completion"),
    ],
)
def test_detect_format(record: dict[str, Any], fmt: str) -> None:
    assert detect_format(record) == fmt


def test_unrecognised_shape_names_keys_and_formats() -> None:
    with pytest.raises(RecordInvalid) as info:
        detect_format({"text": "x", "language": "en"})
    assert info.value.field == "*"
    assert info.value.message.startswith("unrecognised record shape (keys: language, text); ")
    assert "--format" in info.value.message
    assert all(fmt in info.value.message for fmt in FORMATS)


def test_unrecognised_shape_keeps_long_key_lists_short() -> None:
    record = {f"a very long column name number {i} that goes on and on": i for i in range(30)}
    with pytest.raises(RecordInvalid) as info:
        detect_format(record)
    assert len(info.value.message) < 700
    assert "and 20 more" in info.value.message


def test_unknown_format_name() -> None:
    with pytest.raises(ValueError, match="unknown format 'csv'"):
        parse_record({"messages": []}, "csv")


# -- messages -----------------------------------------------------------------------------------


def test_messages_with_tools_and_text_parts() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    call = [{"id": "c1", "type": "function", "function": {"name": "get_weather"}}]
    record = {
        "messages": [
            {"role": "system", "content": "Be brief.", "id": "dropped"},
            {"role": "user", "content": [text_part("Weather "), text_part("in Oslo?")]},
            {"role": "assistant", "content": None, "tool_calls": call},
            {"role": "tool", "content": "-3C", "tool_call_id": "c1", "name": "get_weather"},
            {"role": "assistant", "content": "Cold: -3C.", "weight": 1},
        ],
        "tools": tools,
    }
    parsed = example(record, "messages")
    assert parsed.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": call},
        {"role": "tool", "content": "-3C", "tool_call_id": "c1", "name": "get_weather"},
        {"role": "assistant", "content": "Cold: -3C.", "weight": 1},
    ]
    assert parsed.tools == tools
    assert parsed.needs_response is False


def test_messages_tools_as_json_string() -> None:
    record = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
        "tools": '[{"type": "function", "function": {"name": "f"}}]',
    }
    assert example(record, "messages").tools == [{"type": "function", "function": {"name": "f"}}]


@pytest.mark.parametrize("tools", [{"type": "function"}, "not json", 3, '{"a": 1}', ["x"]])
def test_messages_bad_tools(tools: Any) -> None:
    record = {"messages": [{"role": "user", "content": "hi"}], "tools": tools}
    assert invalid(record, "messages").field == "tools"


def test_image_content_part_is_rejected() -> None:
    record = {
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "x.png"}},
                ],
            },
        ]
    }
    error = invalid(record, "messages")
    assert error.field == "messages[1].content"
    assert error.message.startswith("non-text content")
    assert "image_url" in error.message


def test_non_string_content_is_rejected() -> None:
    error = invalid({"messages": [{"role": "user", "content": 42}]}, "messages")
    assert (error.field, error.message) == (
        "messages[0].content",
        "non-text content (number) is not supported",
    )


@pytest.mark.parametrize(
    ("messages", "field", "message"),
    [
        (None, "messages", "missing"),
        ("hello", "messages", "expected an array of messages, got string"),
        ([], "messages", "empty array"),
        ([{"role": "user", "content": "a"}, {"content": "b"}], "messages[1].role", "missing role"),
        ([{"role": "robot", "content": "a"}], "messages[0].role", "unknown role 'robot'"),
        (["hello"], "messages[0]", "expected a message object, got string"),
        ([{"role": "user"}], "messages[0].content", "missing content"),
        (
            [{"role": "assistant", "content": "", "tool_calls": "x"}],
            "messages[0].tool_calls",
            "expected an array",
        ),
    ],
)
def test_messages_errors(messages: Any, field: str, message: str) -> None:
    error = invalid({"messages": messages}, "messages")
    assert error.field == field
    assert error.message.startswith(message)


def test_unknown_role_lists_the_valid_ones() -> None:
    error = invalid({"messages": [{"role": "robot", "content": "a"}]}, "messages")
    assert error.message == "unknown role 'robot' (expected one of system, user, assistant, tool)"


@pytest.mark.parametrize(
    "last", [{"role": "assistant", "content": "  "}, {"role": "assistant"}, None]
)
def test_missing_final_response_needs_response(last: dict[str, Any] | None) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Write a haiku."}]
    if last is not None:
        messages.append(last)
    parsed = example({"messages": messages}, "messages")
    assert parsed.needs_response is True
    assert parsed.messages == [{"role": "user", "content": "Write a haiku."}]


def test_only_an_empty_assistant_turn_is_invalid() -> None:
    assert (
        invalid({"messages": [{"role": "assistant", "content": ""}]}, "messages").field
        == "messages"
    )


# -- sharegpt -----------------------------------------------------------------------------------


def test_sharegpt_roles_and_system() -> None:
    record = {
        "system": "You are helpful.",
        "conversations": [
            {"from": "human", "value": "Weather?"},
            {"from": "function_call", "value": '{"name": "weather"}'},
            {"from": "observation", "value": "sunny"},
            {"from": "gpt", "value": "Sunny."},
        ],
        "tools": '[{"name": "weather"}]',
    }
    parsed = example(record, "sharegpt")
    assert parsed.messages == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": '{"name": "weather"}'},
        {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "Sunny."},
    ]
    assert parsed.tools == [{"name": "weather"}]
    assert parsed.needs_response is False


@pytest.mark.parametrize(
    ("source", "role"),
    [
        ("user", "user"),
        ("chatgpt", "assistant"),
        ("model", "assistant"),
        ("Assistant", "assistant"),
        ("function", "tool"),
        ("function_response", "tool"),
        ("tool", "tool"),
        ("system", "system"),
    ],
)
def test_sharegpt_role_mapping(source: str, role: str) -> None:
    record = {"conversations": [{"from": "human", "value": "q"}, {"from": source, "value": "a"}]}
    assert example(record, "sharegpt").messages[1]["role"] == role


def test_sharegpt_unknown_and_missing_role() -> None:
    error = invalid(
        {"conversations": [{"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]},
        "sharegpt",
    )
    assert error.field == "conversations[1].from"
    assert error.message.startswith("unknown role 'bot' (expected one of human, user, gpt,")
    error = invalid({"conversations": [{"value": "q"}]}, "sharegpt")
    assert (error.field, error.message) == ("conversations[0].from", "missing role")


def test_sharegpt_without_answer_needs_response() -> None:
    parsed = example(
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]},
        "sharegpt",
    )
    assert parsed.needs_response is True
    assert parsed.messages == [{"role": "user", "content": "q"}]


# -- alpaca -------------------------------------------------------------------------------------


def test_alpaca_with_and_without_input() -> None:
    parsed = example({"instruction": "Sort these.", "input": "b, a", "output": "a, b"}, "alpaca")
    assert parsed.messages == [
        {"role": "user", "content": "Sort these.\n\nb, a"},
        {"role": "assistant", "content": "a, b"},
    ]
    assert parsed.tools is None
    assert parsed.needs_response is False
    parsed = example(
        {"instruction": "Say hi.", "input": "", "output": "Hi", "system": "Be kind."}, "alpaca"
    )
    assert parsed.messages == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Hi"},
    ]


@pytest.mark.parametrize("output", ["", "   ", None])
def test_alpaca_empty_output_needs_response(output: str | None) -> None:
    parsed = example({"instruction": "Say hi.", "input": None, "output": output}, "alpaca")
    assert parsed.needs_response is True
    assert parsed.messages == [{"role": "user", "content": "Say hi."}]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"instruction": "", "output": "x"}, "instruction"),
        ({"instruction": "  ", "output": "x"}, "instruction"),
        ({"output": "x"}, "instruction"),
        ({"instruction": 5, "output": "x"}, "instruction"),
        ({"instruction": "x", "input": ["a"], "output": "x"}, "input"),
        ({"instruction": "x", "output": 42}, "output"),
        ({"instruction": "x", "output": "y", "system": 1}, "system"),
    ],
)
def test_alpaca_errors(record: dict[str, Any], field: str) -> None:
    assert invalid(record, "alpaca").field == field


# -- prompt/completion --------------------------------------------------------------------------


def test_prompt_completion_strings_and_messages() -> None:
    parsed = example({"prompt": "2+2=", "completion": "4"}, "prompt_completion")
    assert parsed.messages == [
        {"role": "user", "content": "2+2="},
        {"role": "assistant", "content": "4"},
    ]
    parsed = example(
        {
            "prompt": [{"role": "system", "content": "Math."}, {"role": "user", "content": "2+2="}],
            "completion": [{"role": "assistant", "content": "4"}],
        },
        "prompt_completion",
    )
    assert [m["role"] for m in parsed.messages] == ["system", "user", "assistant"]
    assert example({"prompt": "2+2=", "completion": ""}, "prompt_completion").needs_response


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"prompt": "", "completion": "x"}, "prompt"),
        ({"prompt": 3, "completion": "x"}, "prompt"),
        ({"prompt": "p", "completion": {"text": "x"}}, "completion"),
        ({"prompt": [{"role": "wizard", "content": "x"}], "completion": "x"}, "prompt[0].role"),
    ],
)
def test_prompt_completion_errors(record: dict[str, Any], field: str) -> None:
    assert invalid(record, "prompt_completion").field == field
