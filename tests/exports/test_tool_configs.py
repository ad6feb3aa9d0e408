"""Axolotl YAML and LLaMA-Factory dataset_info generation."""

from __future__ import annotations

from typing import Any

import pytest

from app.exports.tool_configs import axolotl_yaml, llamafactory_dataset_info, yaml_quote

yaml = pytest.importorskip("yaml")


def config(pairs: bool, **over: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
        "dataset_file": "train.jsonl",
        "sequence_len": 2048,
        "pairs": pairs,
        "chat_template": "chatml",
    }
    kwargs.update(over)
    parsed = yaml.safe_load(axolotl_yaml(**kwargs))
    assert isinstance(parsed, dict)
    return parsed


def test_axolotl_sft_config() -> None:
    cfg = config(pairs=False)
    expected = {
        "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
        "load_in_4bit": True,
        "adapter": "qlora",
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "sequence_len": 2048,
        "sample_packing": True,
        # packing needs an attention that keeps packed samples apart (issue 18)
        "flash_attention": True,
        "micro_batch_size": 2,
        "gradient_accumulation_steps": 4,
        "learning_rate": 2e-4,
        "num_epochs": 3,
        "chat_template": "chatml",
    }
    for key, value in expected.items():
        assert cfg[key] == value, key
    assert isinstance(cfg["learning_rate"], float)
    assert cfg["optimizer"] and cfg["lr_scheduler"] and cfg["output_dir"]
    assert "rl" not in cfg
    (ds,) = cfg["datasets"]
    assert ds["path"] == "train.jsonl"
    assert ds["ds_type"] == "json"
    assert ds["type"] == "chat_template"
    assert ds["field_messages"] == "messages"
    assert ds["message_field_training"] == "training"


def test_axolotl_packing_comment_says_what_to_change_without_flash_attention() -> None:
    text = axolotl_yaml(base_model="m", dataset_file="train.jsonl", sequence_len=2048,
                        pairs=False, chat_template="chatml")  # fmt: skip
    lines = text.splitlines()
    at = lines.index("flash_attention: true")
    assert "sample_packing: false" in " ".join(lines[at - 3 : at])


def test_axolotl_dpo_config() -> None:
    cfg = config(pairs=True)
    assert cfg["rl"] == "dpo"
    assert cfg["sample_packing"] is False
    assert "flash_attention" not in cfg  # no packing: the model's default attention is fine
    assert isinstance(cfg["learning_rate"], float)
    (ds,) = cfg["datasets"]
    assert ds["type"] == "chat_template.default"
    assert (ds["field_messages"], ds["field_chosen"], ds["field_rejected"]) == (
        "messages",
        "chosen",
        "rejected",
    )


def test_axolotl_yaml_is_deterministic_and_quotes_strings() -> None:
    kwargs: dict[str, Any] = {
        "base_model": 'odd: "model" # name\n\u0085\u2028\x01 \U0001f600',
        "dataset_file": "data/train: 1.jsonl",
        "sequence_len": 512,
        "pairs": False,
        "chat_template": "tokenizer_default",
    }
    first = axolotl_yaml(**kwargs)
    assert first == axolotl_yaml(**kwargs)
    parsed = yaml.safe_load(first)
    assert parsed["base_model"] == kwargs["base_model"]
    assert parsed["datasets"][0]["path"] == kwargs["dataset_file"]


@pytest.mark.parametrize("text", ["", "plain", "yes", "null", "1e3", "a\\b", "tab\there", "é ü"])
def test_yaml_quote_round_trips(text: str) -> None:
    assert yaml.safe_load(f"k: {yaml_quote(text)}") == {"k": text}


def test_axolotl_rejects_bad_sequence_len() -> None:
    with pytest.raises(ValueError, match="sequence_len"):
        axolotl_yaml(
            base_model="m", dataset_file="f", sequence_len=0, pairs=False, chat_template="chatml"
        )


def test_llamafactory_sharegpt_entries() -> None:
    sft = llamafactory_dataset_info(
        name="trellis_sft", file_name="sft.jsonl", pairs=False, formatting="sharegpt"
    )["trellis_sft"]
    assert sft["file_name"] == "sft.jsonl"
    assert sft["formatting"] == "sharegpt"
    assert "ranking" not in sft
    assert sft["columns"] == {"messages": "conversations", "system": "system", "tools": "tools"}
    assert sft["tags"]["role_tag"] == "from"
    assert sft["tags"]["content_tag"] == "value"
    assert sft["tags"]["user_tag"] == "human"
    assert sft["tags"]["assistant_tag"] == "gpt"
    assert sft["tags"]["observation_tag"] == "observation"
    assert sft["tags"]["function_tag"] == "function_call"

    pref = llamafactory_dataset_info(
        name="trellis_dpo", file_name="dpo.jsonl", pairs=True, formatting="sharegpt"
    )["trellis_dpo"]
    assert pref["ranking"] is True
    assert pref["columns"]["chosen"] == "chosen"
    assert pref["columns"]["rejected"] == "rejected"
    assert pref["columns"]["messages"] == "conversations"


def test_llamafactory_alpaca_entries() -> None:
    sft = llamafactory_dataset_info(
        name="a", file_name="a.jsonl", pairs=False, formatting="alpaca"
    )["a"]
    assert sft["columns"] == {
        "prompt": "instruction",
        "query": "input",
        "response": "output",
        "system": "system",
        "history": "history",
    }
    assert "tags" not in sft
    pref = llamafactory_dataset_info(
        name="b", file_name="b.jsonl", pairs=True, formatting="alpaca"
    )["b"]
    assert pref["ranking"] is True
    assert pref["columns"]["chosen"] == "chosen"
    assert pref["columns"]["rejected"] == "rejected"
    assert "response" not in pref["columns"]
