"""RunConfig: defaults, presets, clear messages, the runner JSON it writes, the target check."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.errors import Invalid
from app.training.config import RunConfig, check_model
from app.training.runner.spec import parse_spec
from tests.training.tiny_model import build_tiny_model

DATA = [{"path": "data/sft_train.jsonl", "sha256": "a" * 64, "split": "train"}]


def test_defaults_are_the_standard_qlora_start() -> None:
    config = RunConfig(base_model="meta-llama/Llama-3.1-8B")
    assert (config.lora_rank, config.lora_alpha, config.lora_dropout) == (16, 32, 0.05)
    assert config.lora_targets == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert (config.learning_rate, config.epochs, config.micro_batch, config.grad_accum) == (
        2e-4,
        3,
        2,
        4,
    )
    assert config.optimizer == "paged_adamw_8bit"
    assert config.dpo_beta == 0.1
    assert config.effective_batch == 8


def test_presets() -> None:
    assert RunConfig.for_preset("lora", base_model="m").optimizer == "adamw_torch"
    full = RunConfig.for_preset("full", base_model="m", optimizer="galore_adamw")
    assert (full.learning_rate, full.optimizer) == (2e-5, "galore_adamw")
    with pytest.raises(ValidationError, match="GaLore optimizers project full-rank gradients"):
        RunConfig(base_model="m", optimizer="galore_adamw")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lora_alpha": 0}, "lora_alpha\n  Input should be greater than 0"),
        ({"lora_rank": 0}, "lora_rank\n  Input should be greater than 0"),
        ({"lora_targets": [" "]}, "name at least one module"),
        ({"optimizer": "adam"}, "unknown optimizer 'adam'; choose one of paged_adamw_8bit"),
        ({"max_steps": 0}, "max_steps is a positive number of steps, or -1 for none"),
        ({"zero_stage": 3}, "DeepSpeed ZeRO needs num_gpus of 2 or more"),
        ({"preset": "full", "merge": True}, "a full fine-tune has none"),
        ({"method": "ppo"}, "Input should be 'sft' or 'dpo'"),
    ],
)
def test_invalid_fields_say_what_is_wrong(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RunConfig(base_model="m", **fields)
    assert message in str(caught.value)


def test_rank_need_not_be_a_power_of_two() -> None:
    assert RunConfig(base_model="m", lora_rank=24).lora_rank == 24


def test_the_runner_reads_what_the_config_writes() -> None:
    config = RunConfig(
        base_model="m", method="dpo", lora_rank=8, init_adapter="/runs/1/output/adapter"
    )
    spec = parse_spec(config.to_runner_config(DATA))
    assert spec.method == "dpo"
    assert spec.lora.rank == 8 and spec.lora.targets == ("q_proj", "k_proj", "v_proj", "o_proj")
    assert spec.init_adapter == "/runs/1/output/adapter"
    assert spec.data_files[0].path == "data/sft_train.jsonl"
    assert spec.to_dict()["lora"] == config.to_runner_config(DATA)["lora"]


def test_targets_are_checked_against_the_model_skeleton(tmp_path: Path) -> None:
    model_dir = build_tiny_model(tmp_path / "model")
    check_model(RunConfig(base_model=str(model_dir), lora_targets=["q_proj", "down_proj"]))
    with pytest.raises(
        Invalid, match=r"lora_targets: c_attn not found in .*k_proj, o_proj, q_proj"
    ):
        check_model(RunConfig(base_model=str(model_dir), lora_targets=["q_proj", "c_attn"]))
    # A hub id whose config is not readable here is not checked.
    check_model(RunConfig(base_model="org/not-here", lora_targets=["anything"]))


def test_memory_from_the_config() -> None:
    config = RunConfig(base_model="m", sequence_len=2048)
    llama_7b = {
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "vocab_size": 32000,
    }
    assert 6 <= config.memory(llama_7b).total_gib <= 10
