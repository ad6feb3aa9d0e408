"""The `ray` backend for real, against a Ray head this module starts on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray.job_submission", reason="the ray extra is not installed")

from app.training.backends import (
    BackendError,
    BackendUnavailable,
    Resources,
    RunState,
    backend_for_handle,
)
from app.training.backends.base import read_metrics, read_summary
from app.training.backends.ray_jobs import RayBackend, parse_job_log
from tests.training.backend_helpers import finished, stand_in_run_dir, wait_for
from tests.training.ray_head import RayHead, ray_head

pytestmark = pytest.mark.ray
STAND_IN = ["python", "stand_in_runner.py"]  # run in the job's working dir (the run dir copy)
CPU_ONLY = Resources(gpus=0, cpus=1)


@pytest.fixture(scope="module")
def head() -> Iterator[RayHead]:
    # One GPU declared to the scheduler (none exists here): enough to see the GPU ask honoured.
    with ray_head(num_cpus=1, num_gpus=1) as started:
        yield started


def _backend(head: RayHead, **options: object) -> RayBackend:
    return RayBackend(head.address, runner_command=STAND_IN, grace_s=20, **options)  # type: ignore[arg-type]


def test_cpu_job_runs_to_success_and_its_results_come_back(head: RayHead, tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=4, step_s=0.1)
    backend = _backend(head)
    handle = backend.submit(run_dir, CPU_ONLY)
    assert json.loads(handle)["address"] == head.address
    first = backend.status(handle).state
    assert first in (RunState.PENDING, RunState.RUNNING, RunState.SUCCEEDED)
    status = wait_for(backend, handle, finished, timeout=90)
    assert status.state is RunState.SUCCEEDED, (status, backend.logs(handle))
    assert status.exit_code == 0
    logs = backend.logs(handle)
    assert "stand-in runner done" in logs
    assert "TRELLIS_METRIC" not in logs
    assert backend.logs(handle, tail=1).strip() == logs.splitlines()[-1].strip()
    backend.sync(handle)
    assert [row["step"] for row in read_metrics(run_dir)] == [1, 2, 3, 4]
    assert read_summary(run_dir) == {"state": "succeeded", "steps": 4}
    # Shared storage (the same host here): the adapter was copied back into the run dir.
    assert (run_dir / "output" / "adapter" / "adapter_config.json").is_file()
    assert "stand-in runner done" in (run_dir / "runner.log").read_text()


def test_without_shared_storage_metrics_and_summary_come_from_the_log(
    head: RayHead, tmp_path: Path
) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=3, step_s=0.05, fail=True)
    backend = _backend(head, shared_storage=False)
    handle = backend.submit(run_dir, CPU_ONLY)
    status = wait_for(backend, handle, finished, timeout=90)
    assert status.state is RunState.FAILED
    assert status.exit_code == 1
    assert not (run_dir / "metrics.jsonl").exists()  # nothing written here by the job
    backend.sync(handle)
    assert [row["step"] for row in read_metrics(run_dir)] == [1, 2, 3]
    assert read_summary(run_dir) == {"state": "failed", "error": "boom"}
    assert backend.status(handle).detail == "boom"  # the runner's reason once synced
    assert not (run_dir / "output").exists()


def test_cancel_stops_the_job_and_a_new_backend_reattaches(head: RayHead, tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=1000, step_s=0.2)
    backend = _backend(head)
    handle = backend.submit(run_dir, CPU_ONLY)
    # A second submit of the same live run directory re-attaches instead of starting a twin.
    assert backend.submit(run_dir, CPU_ONLY) == handle
    reattached = backend_for_handle(handle)  # no address given: the handle carries it
    wait_for(reattached, handle, lambda s: s.state is RunState.RUNNING or s.state.terminal)

    def has_live_metrics(_status: object) -> bool:
        reattached.sync(handle)
        return len(read_metrics(run_dir)) >= 2

    wait_for(reattached, handle, has_live_metrics, timeout=60)  # metrics arrive while it runs
    started = time.monotonic()
    reattached.cancel(handle)
    assert time.monotonic() - started < 10
    status = reattached.status(handle)
    assert status.state is RunState.CANCELLED, status


def test_a_job_outlives_its_submitter_killed_with_sigkill(head: RayHead, tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=8, step_s=0.2)
    submitter = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from app.training.backends import Resources
        from app.training.backends.ray_jobs import RayBackend
        backend = RayBackend({head.address!r}, runner_command={STAND_IN!r})
        print(backend.submit(Path({str(run_dir)!r}), Resources(cpus=1)), flush=True)
        time.sleep(600)
        """
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-c", submitter], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    handle = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    worker = backend_for_handle(handle)  # the replacement worker: only the stored handle
    status = wait_for(worker, handle, finished, timeout=90)
    assert status.state is RunState.SUCCEEDED, status
    worker.sync(handle)
    assert len(read_metrics(run_dir)) == 8


def test_the_entrypoint_asks_ray_for_the_form_gpus(head: RayHead, tmp_path: Path) -> None:
    backend = _backend(head)
    one = backend.submit(stand_in_run_dir(tmp_path / "one", steps=1), Resources(gpus=1))
    status = wait_for(backend, one, finished, timeout=90)
    assert status.state is RunState.SUCCEEDED, status
    assert "CUDA_VISIBLE_DEVICES=0" in backend.logs(one)  # Ray gave the job the GPU it asked for
    # Two GPUs on a one-GPU cluster: Ray holds the job back until they are free.
    two = backend.submit(stand_in_run_dir(tmp_path / "two", steps=1), Resources(gpus=2))
    time.sleep(3)
    assert backend.status(two).state is RunState.PENDING
    started = time.monotonic()
    backend.cancel(two)
    assert time.monotonic() - started < 10
    status = backend_for_handle(two).status(two)  # as any other worker sees it
    assert status.state is RunState.CANCELLED
    assert "before Ray scheduled it" in status.detail


def test_several_gpus_start_the_runner_through_accelerate(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run")
    entrypoint = RayBackend("http://unused:8265").entrypoint(run_dir, 4)
    assert entrypoint.startswith("python -m app.training.backends.wrapper --echo-metrics")
    assert f"--results-dir {run_dir} . -- " in entrypoint
    assert entrypoint.endswith(
        "python -m accelerate.commands.launch --config_file accelerate.yaml"
        " --num_processes 4 -m app.training.runner ."
    )
    assert (run_dir / "accelerate.yaml").is_file()
    assert (run_dir / "deepspeed.json").is_file()
    single = RayBackend("http://unused:8265", shared_storage=False).entrypoint(run_dir, 1)
    assert single == (
        "python -m app.training.backends.wrapper --echo-metrics . -- "
        "python -m app.training.runner ."
    )


def test_unreachable_cluster_and_unknown_jobs(head: RayHead, tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run")
    with pytest.raises(BackendUnavailable):
        RayBackend("http://127.0.0.1:9").submit(run_dir, CPU_ONLY)
    with pytest.raises(BackendError, match="TRELLIS_RAY_ADDRESS"):
        RayBackend("").submit(run_dir, CPU_ONLY)
    ghost = json.dumps(
        {"backend": "ray", "address": head.address, "submission_id": "raysubmit_nope",
         "run_dir": str(run_dir)}
    )  # fmt: skip
    status = _backend(head).status(ghost)
    assert status.state is RunState.FAILED
    assert "no job" in status.detail


def test_job_log_parsing_survives_progress_bars() -> None:
    log = (
        "setup\n"
        '10%|#   | 1/10\rTRELLIS_METRIC {"step": 1, "loss": 2.0}\n'
        "TRELLIS_METRIC {broken\n"
        'TRELLIS_METRIC {"step": 2, "loss": 1.0}\n'
        'TRELLIS_SUMMARY {"state": "succeeded"}\n'
    )
    metrics, summary = parse_job_log(log)
    assert [json.loads(m)["step"] for m in metrics] == [1, 2]
    assert summary == {"state": "succeeded"}


def test_real_sft_steps_through_ray(head: RayHead, tmp_path: Path) -> None:
    from tests.training.tiny_model import build_tiny_model, sft_rows, write_run_dir

    model_dir = build_tiny_model(tmp_path / "model")
    run_dir = write_run_dir(tmp_path / "run", model_dir, rows=sft_rows(repeat=4), max_steps=6)
    env = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    backend = RayBackend(
        head.address, env=env
    )  # the real entry point: python -m app.training.runner
    handle = backend.submit(run_dir, CPU_ONLY)
    status = wait_for(backend, handle, finished, timeout=240)
    assert status.state is RunState.SUCCEEDED, (status, backend.logs(handle, 40))
    copied_back = read_metrics(run_dir)  # the wrapper's copy over shared storage
    (run_dir / "metrics.jsonl").unlink()
    backend.sync(handle)  # rebuilt from the job log alone
    from_log = read_metrics(run_dir)
    assert from_log == copied_back
    losses = [row["loss"] for row in from_log if row.get("event") == "train"]
    assert losses and all(isinstance(loss, float) for loss in losses)
    summary = read_summary(run_dir)
    assert summary is not None and summary["state"] == "succeeded"
    assert (run_dir / "output" / "adapter" / "adapter_config.json").is_file()
