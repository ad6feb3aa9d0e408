"""The runner's command line for a number of GPUs, with the multi-GPU launch files it needs.

One GPU or none: `python -m app.training.runner RUN_DIR`. Several: `accelerate launch` with an
accelerate config and a DeepSpeed config (ZeRO stage from config.json's `zero_stage`, ZeRO-2 when
unset) that the backend writes into the run directory at submit time, naming the DeepSpeed file
relative to the working directory where the run starts there (Ray, Kubernetes, SLURM,
SkyPilot), by absolute path otherwise (local).
"""

from __future__ import annotations

import json
from pathlib import Path

from app.training.backends.base import BackendError
from app.training.runner.distributed import launch_command, write_launch_files

DEFAULT_ZERO_STAGE = 2


def runner_command(
    run_dir: Path, run_dir_arg: str, gpus: int, *, python: str, relative: bool
) -> list[str]:
    """The command that trains `run_dir`, addressed as `run_dir_arg` where it runs."""
    if gpus > 1:
        try:
            config = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot read {run_dir / 'config.json'}: {exc}") from exc
        zero_stage = config.get("zero_stage") or DEFAULT_ZERO_STAGE
        write_launch_files(run_dir, gpus, int(zero_stage), relative=relative)
    return launch_command(run_dir_arg, gpus, python=python, relative=relative)
