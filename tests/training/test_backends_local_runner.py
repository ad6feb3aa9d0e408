"""The real runner through the real `local` backend: a few SFT steps on a tiny random model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app.training.backends import Resources, RunState, get_backend
from app.training.backends.base import read_metrics, read_summary
from tests.training.backend_helpers import finished, wait_for
from tests.training.tiny_model import build_tiny_model, sft_rows, write_run_dir

ENV = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _train_losses(run_dir: Path) -> list[float]:
    return [row["loss"] for row in read_metrics(run_dir) if row.get("loss") is not None]


def test_real_sft_steps_through_the_local_backend(model_dir: Path, tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path / "run", model_dir, rows=sft_rows(repeat=4), max_steps=6)
    backend = get_backend("local", env=ENV)
    handle = backend.submit(run_dir, Resources(gpus=0))
    status = wait_for(backend, handle, finished, timeout=240)
    assert status.state is RunState.SUCCEEDED, (status, backend.logs(handle, 40))
    assert status.exit_code == 0
    summary = read_summary(run_dir)
    assert summary is not None and summary["state"] == "succeeded"
    losses = _train_losses(run_dir)
    assert losses, read_metrics(run_dir)
    steps = [row["step"] for row in read_metrics(run_dir) if row.get("loss") is not None]
    assert steps == sorted(steps)
    assert (run_dir / "output" / "adapter" / "adapter_config.json").is_file()


def test_cancel_of_a_real_run_stops_it_within_ten_seconds(model_dir: Path, tmp_path: Path) -> None:
    run_dir = write_run_dir(
        tmp_path / "run", model_dir, rows=sft_rows(repeat=4), max_steps=100_000, epochs=1000
    )
    backend = get_backend("local", env=ENV)
    handle = backend.submit(run_dir, Resources(gpus=0))
    wait_for(backend, handle, lambda s: s.state.terminal or bool(_train_losses(run_dir)), 240)
    assert backend.status(handle).state is RunState.RUNNING
    started = time.monotonic()
    backend.cancel(handle)
    assert time.monotonic() - started < 10
    status = backend.status(handle)
    assert status.state is RunState.CANCELLED, (status, backend.logs(handle, 40))
    assert json.loads((run_dir / "summary.json").read_text())["state"] == "cancelled"
