"""Job processes compute with their share of the cores, not torch's default of every core in
every process (which slowed embeddings 7x on a busy two-core machine)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.config import Settings
from tests.factories import ROOT

_PROBE = "import workers.celery_app, torch; print(torch.get_num_threads())"


def _threads_in_a_worker(**env: str) -> int:
    dropped = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("TRELLIS_") and k not in dropped}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return int(done.stdout.strip().splitlines()[-1])


def test_the_cores_are_shared_among_the_job_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert Settings(worker_concurrency=2).effective_job_threads == 8
    assert Settings(worker_concurrency=4).effective_job_threads == 4
    assert Settings(worker_concurrency=32).effective_job_threads == 1
    assert Settings(worker_concurrency=2, job_threads=3).effective_job_threads == 3


def test_a_worker_process_runs_torch_on_its_share(tmp_path: os.PathLike[str]) -> None:
    data = {"TRELLIS_DATA_DIR": str(tmp_path)}
    assert _threads_in_a_worker(**data, TRELLIS_JOB_THREADS="1") == 1
    assert _threads_in_a_worker(**data, TRELLIS_JOB_THREADS="2") == 2
    expected = max(1, (os.cpu_count() or 1) // 2)
    assert _threads_in_a_worker(**data) == expected
    # An operator's own OMP_NUM_THREADS is left alone.
    assert _threads_in_a_worker(**data, TRELLIS_JOB_THREADS="1", OMP_NUM_THREADS="2") == 2
