"""Multi-GPU launch files as data: accelerate YAML, DeepSpeed JSON, the launch command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from app.training.runner.distributed import deepspeed_config, launch_command, write_launch_files
from app.training.runner.spec import RunError, parse_spec


@pytest.mark.parametrize("stage", [2, 3])
def test_launch_files(tmp_path: Path, stage: int) -> None:
    acc_path, ds_path = write_launch_files(tmp_path, num_gpus=4, zero_stage=stage)
    accelerate = yaml.safe_load(acc_path.read_text())
    assert accelerate["distributed_type"] == "DEEPSPEED"
    assert accelerate["num_processes"] == 4
    assert accelerate["deepspeed_config"]["deepspeed_config_file"] == str(ds_path.resolve())
    assert accelerate["deepspeed_config"]["zero3_init_flag"] is (stage == 3)
    ds = json.loads(ds_path.read_text())
    assert ds["zero_optimization"]["stage"] == stage
    assert ds["train_micro_batch_size_per_gpu"] == "auto"
    assert ds["gradient_accumulation_steps"] == "auto"
    assert ("stage3_gather_16bit_weights_on_model_save" in ds["zero_optimization"]) is (stage == 3)


def test_relative_launch_files_for_a_shipped_working_dir(tmp_path: Path) -> None:
    acc_path, _ = write_launch_files(tmp_path, num_gpus=2, zero_stage=2, relative=True)
    assert (
        yaml.safe_load(acc_path.read_text())["deepspeed_config"]["deepspeed_config_file"]
        == "deepspeed.json"
    )
    assert launch_command(".", 2, python="python", relative=True) == [
        "python",
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        "accelerate.yaml",
        "--num_processes",
        "2",
        "-m",
        "app.training.runner",
        ".",
    ]


def test_one_gpu_runs_the_module_directly() -> None:
    assert launch_command("/runs/7", python="python") == [
        "python",
        "-m",
        "app.training.runner",
        "/runs/7",
    ]
    with pytest.raises(ValueError, match="zero_stage must be 2 or 3"):
        deepspeed_config(1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "ppo"}, "method must be one of sft, dpo"),
        ({"data_files": []}, "'data_files' must list at least one file"),
        ({"lora": {"alpha": 0}}, "lora.alpha must be greater than 0"),
        ({"surprise": 1}, "unknown field(s) surprise"),
        (
            {"data_files": [{"path": "e.jsonl", "sha256": "0", "split": "eval"}]},
            "no data file has split 'train'",
        ),
    ],
)
def test_runner_config_errors(change: dict[str, object], message: str) -> None:
    raw = {"method": "sft", "base_model": "m", "data_files": [{"path": "a.jsonl", "sha256": "0"}]}
    with pytest.raises(RunError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec({**raw, **change})
