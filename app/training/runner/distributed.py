"""Multi-GPU launch files: an ``accelerate`` config with a DeepSpeed ZeRO-2 or ZeRO-3 config.

Trellis writes these next to ``config.json`` when a run asks for more than one GPU; the backend
then starts the runner through ``accelerate launch`` instead of ``python -m`` (see
:func:`launch_command`). The DeepSpeed values left as ``"auto"`` are filled by the HF Trainer
from the training arguments, so batch size, accumulation, clipping and precision have one source.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ACCELERATE_FILE = "accelerate.yaml"
DEEPSPEED_FILE = "deepspeed.json"
RUNNER_MODULE = "app.training.runner"


def deepspeed_config(zero_stage: int) -> dict[str, Any]:
    """DeepSpeed config: ZeRO-2 shards optimizer state and gradients, ZeRO-3 the weights too."""
    if zero_stage not in (2, 3):
        raise ValueError("zero_stage must be 2 or 3")
    zero: dict[str, Any] = {
        "stage": zero_stage,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if zero_stage == 2:
        zero.update({"allgather_partitions": True, "reduce_scatter": True})
    else:
        zero.update(
            {
                "stage3_prefetch_bucket_size": "auto",
                "stage3_param_persistence_threshold": "auto",
                "stage3_max_live_parameters": 1_000_000_000,
                "stage3_max_reuse_distance": 1_000_000_000,
                "stage3_gather_16bit_weights_on_model_save": True,
            }
        )
    return {
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "steps_per_print": 1_000_000,
        "wall_clock_breakdown": False,
    }


def accelerate_config(num_gpus: int, zero_stage: int, deepspeed_file: str) -> dict[str, Any]:
    """``accelerate launch --config_file`` content for one machine with ``num_gpus`` GPUs."""
    if num_gpus < 1:
        raise ValueError("num_gpus must be at least 1")
    return {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "DEEPSPEED",
        "deepspeed_config": {
            "deepspeed_config_file": deepspeed_file,
            # ZeRO-3 shards weights at load time; ZeRO-2 keeps whole weights per GPU.
            "zero3_init_flag": zero_stage == 3,
        },
        "machine_rank": 0,
        "num_machines": 1,
        "num_processes": num_gpus,
        "main_training_function": "main",
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
    }


def write_launch_files(
    run_dir: Path, num_gpus: int, zero_stage: int, *, relative: bool = False
) -> tuple[Path, Path]:
    """Write ``accelerate.yaml`` and ``deepspeed.json`` into ``run_dir``; return their paths.

    The accelerate config names the DeepSpeed file by absolute path, or by its bare name with
    ``relative`` (when the launch's working directory is the run directory, as on Ray).
    """
    import yaml

    ds_path = run_dir / DEEPSPEED_FILE
    ds_path.write_text(json.dumps(deepspeed_config(zero_stage), indent=2) + "\n", encoding="utf-8")
    acc_path = run_dir / ACCELERATE_FILE
    ds_name = DEEPSPEED_FILE if relative else str(ds_path.resolve())
    content = accelerate_config(num_gpus, zero_stage, ds_name)
    acc_path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return acc_path, ds_path


def launch_command(
    run_dir: str, num_gpus: int = 1, *, python: str | None = None, relative: bool = False
) -> list[str]:
    """The command that runs the runner on ``run_dir``.

    One GPU (or CPU): ``python -m app.training.runner RUN_DIR``. Several: ``accelerate launch``
    with the files :func:`write_launch_files` wrote. ``relative`` names the accelerate config
    relative to the working directory (a Ray job whose working_dir is the run directory).
    """
    interpreter = python or sys.executable
    if num_gpus <= 1:
        return [interpreter, "-m", RUNNER_MODULE, run_dir]
    config = ACCELERATE_FILE if relative else f"{run_dir.rstrip('/')}/{ACCELERATE_FILE}"
    return [
        interpreter,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        config,
        "--num_processes",
        str(num_gpus),
        "-m",
        RUNNER_MODULE,
        run_dir,
    ]
