"""Row builders: shapes per format, loadability with datasets, and TRL compatibility."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app.exports.rows import FORMATS, ExportRowError

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SYSTEM = {"role": "system", "content": "You are terse."}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def example(item_id: int = 1, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": item_id,
        "version": 1,
        "content_hash": f"h{item_id}",
        "messages": [
            SYSTEM,
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello.", "weight": 0},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris.", "weight": 1},
        ],
        "tools": None,
        "source": "human",
        "rating": 5,
        "tags": [],
    }
    base.update(over)
    return base


def single_turn_example(item_id: int = 2) -> dict[str, Any]:
    return example(
        item_id,
        messages=[
            SYSTEM,
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Yo."},
        ],
    )


def tool_example(item_id: int = 3) -> dict[str, Any]:
    return example(
        item_id,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
            {"role": "assistant", "content": "18C and sunny."},
        ],
    )


def pair(item_id: int = 10, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": item_id,
        "version": 1,
        "content_hash": f"p{item_id}",
        "prompt": [SYSTEM, {"role": "user", "content": "Capital of France?"}],
        "chosen": [{"role": "assistant", "content": "Paris."}],
        "rejected": [{"role": "assistant", "content": "Lyon."}],
        "source": "human",
    }
    base.update(over)
    return base


def multi_turn_pair(item_id: int = 11) -> dict[str, Any]:
    return pair(
        item_id,
        chosen=[
            {"role": "assistant", "content": "Which country?"},
            {"role": "user", "content": "France."},
            {"role": "assistant", "content": "Paris."},
        ],
    )


def tokenizer() -> Any:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "<|im_start|>": 1, "<|im_end|>": 2, "hello": 3}
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, unk_token="[UNK]", eos_token="<|im_end|>", pad_token="[UNK]"
    )
    wrapped.chat_template = CHATML
    return wrapped


def load_jsonl(tmp_path: Path, rows: list[dict[str, Any]], name: str) -> Any:
    import datasets

    path = tmp_path / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )


# ---------------------------------------------------------------------------------------------


def test_registry_forms() -> None:
    assert set(FORMATS) == {
        "messages",
        "trl_preference",
        "openai_preference",
        "axolotl",
        "llamafactory",
        "sharegpt",
        "alpaca",
    }
    assert FORMATS["messages"].pairs is None
    assert FORMATS["sharegpt"].pairs is None
    assert FORMATS["trl_preference"].examples is None
    assert FORMATS["openai_preference"].examples is None
    for name, fmt in FORMATS.items():
        assert fmt.name == name
        assert fmt.description
        assert fmt.examples or fmt.pairs


def test_messages_row_keeps_weights_and_tool_fields() -> None:
    build = FORMATS["messages"].examples
    assert build
    row = build(example())
    assert set(row) == {"messages"}
    assert row["messages"][2] == {"role": "assistant", "content": "Hello.", "weight": 0}
    assert row["messages"][4]["weight"] == 1
    tool_row = build(tool_example())
    assert tool_row["tools"] == TOOLS
    assert tool_row["messages"][1]["tool_calls"][0]["id"] == "call_1"
    assert tool_row["messages"][2]["tool_call_id"] == "call_1"


def test_messages_weight_only_on_assistant_and_input_untouched() -> None:
    item = example(
        messages=[
            {"role": "user", "content": "x", "weight": 1},
            {"role": "assistant", "content": "y."},
        ]
    )
    before = copy.deepcopy(item)
    build = FORMATS["messages"].examples
    assert build
    row = build(item)
    assert "weight" not in row["messages"][0]
    assert item == before


def test_trl_preference_keeps_all_turns() -> None:
    build = FORMATS["trl_preference"].pairs
    assert build
    row = build(multi_turn_pair())
    assert set(row) == {"prompt", "chosen", "rejected"}
    assert len(row["chosen"]) == 3


def test_openai_preference_shape_and_multi_turn_error() -> None:
    build = FORMATS["openai_preference"].pairs
    assert build
    row = build(pair(tools=TOOLS))
    assert row == {
        "input": {"messages": pair()["prompt"], "tools": TOOLS},
        "preferred_output": [{"role": "assistant", "content": "Paris."}],
        "non_preferred_output": [{"role": "assistant", "content": "Lyon."}],
    }
    with pytest.raises(ExportRowError) as err:
        build(multi_turn_pair(11))
    assert err.value.item_id == 11


def test_axolotl_rows() -> None:
    fmt = FORMATS["axolotl"]
    assert fmt.examples and fmt.pairs
    row = fmt.examples(example())
    assert row["messages"][2] == {"role": "assistant", "content": "Hello.", "training": False}
    assert row["messages"][4]["training"] is True
    assert "training" not in row["messages"][1]
    tool_row = fmt.examples(tool_example())
    assert tool_row["tools"] == TOOLS
    assert tool_row["messages"][2]["tool_call_id"] == "call_1"
    prow = fmt.pairs(pair())
    assert prow == {
        "messages": [SYSTEM, {"role": "user", "content": "Capital of France?"}],
        "chosen": {"role": "assistant", "content": "Paris."},
        "rejected": {"role": "assistant", "content": "Lyon."},
    }
    with pytest.raises(ExportRowError):
        fmt.pairs(multi_turn_pair())


def test_llamafactory_rows() -> None:
    fmt = FORMATS["llamafactory"]
    assert fmt.examples and fmt.pairs
    single = fmt.examples(single_turn_example())
    assert single == {
        "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo."}],
        "system": "You are terse.",
        "tools": "",
    }
    row = fmt.examples(tool_example())
    assert [t["from"] for t in row["conversations"]] == [
        "human",
        "function_call",
        "observation",
        "gpt",
    ]
    assert json.loads(row["conversations"][1]["value"]) == {
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }
    assert json.loads(row["tools"]) == [TOOLS[0]["function"]]
    prow = fmt.pairs(pair())
    assert prow == {
        "conversations": [{"from": "human", "value": "Capital of France?"}],
        "chosen": {"from": "gpt", "value": "Paris."},
        "rejected": {"from": "gpt", "value": "Lyon."},
        "system": "You are terse.",
        "tools": "",
    }
    with pytest.raises(ExportRowError):
        fmt.pairs(multi_turn_pair())
    with pytest.raises(ExportRowError, match="weight 0"):
        fmt.examples(example())


def test_sharegpt_rows() -> None:
    build = FORMATS["sharegpt"].examples
    assert build
    row = build(single_turn_example())
    assert row == {
        "conversations": [
            {"from": "system", "value": "You are terse."},
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Yo."},
        ]
    }
    with pytest.raises(ExportRowError):
        build(tool_example())


def test_alpaca_rows() -> None:
    fmt = FORMATS["alpaca"]
    assert fmt.examples and fmt.pairs
    multi = example(
        messages=[
            SYSTEM,
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    )
    assert fmt.examples(multi) == {
        "instruction": "Capital of France?",
        "input": "",
        "output": "Paris.",
        "system": "You are terse.",
        "history": [["Hi", "Hello."]],
    }
    assert fmt.pairs(pair()) == {
        "instruction": "Capital of France?",
        "input": "",
        "chosen": "Paris.",
        "rejected": "Lyon.",
        "system": "You are terse.",
        "history": [],
    }
    with pytest.raises(ExportRowError) as err:
        fmt.pairs(multi_turn_pair(42))
    assert err.value.item_id == 42
    assert "42" in str(err.value)
    with pytest.raises(ExportRowError):
        fmt.examples(tool_example())
    with pytest.raises(ExportRowError):
        fmt.examples(example(messages=[{"role": "user", "content": "no answer"}]))


def test_invalid_messages_raise_row_error() -> None:
    build = FORMATS["messages"].examples
    assert build
    with pytest.raises(ExportRowError):
        build(example(messages=[]))
    with pytest.raises(ExportRowError):
        build(example(messages=[{"role": "narrator", "content": "x"}]))


# ---------------------------------------------------------------------------------------------
# every format loads with datasets; conversational ones work with TRL


def _sft_items() -> list[dict[str, Any]]:
    plain = example(
        4,
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ],
    )
    return [example(1), single_turn_example(2), tool_example(3), plain]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_loads_with_datasets(tmp_path: Path, name: str) -> None:
    fmt = FORMATS[name]
    for kind, build, items in (
        ("examples", fmt.examples, _sft_items()),
        ("pairs", fmt.pairs, [pair(10), multi_turn_pair(11), pair(12, tools=TOOLS)]),
    ):
        if build is None:
            continue
        rows = []
        for item in items:
            try:
                rows.append(build(item))
            except ExportRowError:
                continue
        assert rows, (name, kind)
        dataset = load_jsonl(tmp_path, rows, f"{name}-{kind}")
        assert dataset.num_rows == len(rows)
        assert set(dataset.column_names) == set().union(*(r.keys() for r in rows))


def test_messages_rows_work_with_trl(tmp_path: Path) -> None:
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    build = FORMATS["messages"].examples
    assert build
    rows = [build(example(1)), build(single_turn_example(2))]
    tok = tokenizer()
    for row in [*rows, *load_jsonl(tmp_path, rows, "trl-sft")]:
        assert is_conversational(row)
        text = maybe_apply_chat_template(row, tok)["text"]
        assert "<|im_start|>assistant\nParis.<|im_end|>" in text or "Yo." in text


def test_trl_preference_rows_work_with_trl(tmp_path: Path) -> None:
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    build = FORMATS["trl_preference"].pairs
    assert build
    rows = [build(pair(10)), build(multi_turn_pair(11))]
    tok = tokenizer()
    for row in [*rows, *load_jsonl(tmp_path, rows, "trl-pref")]:
        assert is_conversational(row)
        out = maybe_apply_chat_template(row, tok)
        assert out["prompt"].endswith("<|im_start|>assistant\n")
        assert out["chosen"].endswith("Paris.<|im_end|>\n")
        assert "Lyon." in out["rejected"]
