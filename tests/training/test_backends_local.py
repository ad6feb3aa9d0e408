"""The `local` backend for real: a subprocess (the wrapper and the stand-in runner) per test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from app.training.backends import (
    BackendError,
    Resources,
    RunState,
    backend_for_handle,
    get_backend,
)
from app.training.backends.base import EXIT_FILE, read_metrics
from app.training.backends.local import LocalBackend
from tests.training.backend_helpers import (
    STAND_IN_COMMAND,
    finished,
    stand_in_run_dir,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]


def _backend(**options: object) -> LocalBackend:
    return LocalBackend(runner_command=STAND_IN_COMMAND, **options)  # type: ignore[arg-type]


def test_submit_runs_to_success_with_logs_metrics_and_adapter(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=6, step_s=0.15)
    backend = _backend()
    handle = backend.submit(run_dir, Resources())
    assert json.loads(handle)["backend"] == "local"
    assert backend.status(handle).state is RunState.RUNNING
    status = wait_for(backend, handle, finished)
    assert status.state is RunState.SUCCEEDED, status
    assert status.exit_code == 0
    rows = read_metrics(run_dir)
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert (run_dir / "output" / "adapter" / "adapter_config.json").is_file()
    logs = backend.logs(handle, tail=3)
    assert logs.splitlines()[-1] == "stand-in runner done"
    assert len(logs.splitlines()) == 3
    assert json.loads((run_dir / EXIT_FILE).read_text())["exit_code"] == 0


def test_runner_failure_is_failed_with_the_summary_error(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=1, step_s=0.0, fail=True)
    backend = _backend()
    handle = backend.submit(run_dir, Resources())
    status = wait_for(backend, handle, finished)
    assert status.state is RunState.FAILED
    assert status.detail == "boom"
    assert status.exit_code == 1
    assert "failing on purpose" in backend.logs(handle)


def test_runner_that_dies_without_summary_is_failed(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run")
    backend = LocalBackend(runner_command=[sys.executable, "-c", "import sys; sys.exit(3)"])
    handle = backend.submit(run_dir, Resources())
    status = wait_for(backend, handle, finished)
    assert status.state is RunState.FAILED
    assert status.exit_code == 3
    assert "exited with 3" in status.detail


def test_cancel_stops_the_run_within_ten_seconds(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=1000, step_s=0.1)
    handle = _backend().submit(run_dir, Resources())
    other = _backend()  # cancel from another backend object, as another worker would
    wait_for(other, handle, lambda s: bool(read_metrics(run_dir)))
    started = time.monotonic()
    other.cancel(handle)
    elapsed = time.monotonic() - started
    status = other.status(handle)
    assert status.state is RunState.CANCELLED, status
    assert elapsed < 10
    pid = json.loads(handle)["pid"]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "cancelled" in other.logs(handle)


def test_cancel_kills_a_runner_that_ignores_sigterm(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=1000, step_s=0.1, ignore_sigterm=True)
    backend = _backend(grace_s=1.0)
    handle = backend.submit(run_dir, Resources())
    wait_for(backend, handle, lambda s: bool(read_metrics(run_dir)))
    runner_pids = [p.pid for p in psutil.Process(json.loads(handle)["pid"]).children()]
    started = time.monotonic()
    backend.cancel(handle)
    assert time.monotonic() - started < 8
    assert backend.status(handle).state is RunState.CANCELLED
    for pid in runner_pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_a_new_backend_reattaches_by_handle_alone(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=10, step_s=0.1)
    handle = _backend().submit(run_dir, Resources())
    reattached = backend_for_handle(handle)
    assert reattached.name == "local"
    assert reattached.status(handle).state is RunState.RUNNING
    status = wait_for(reattached, handle, finished)
    assert status.state is RunState.SUCCEEDED
    assert "stand-in runner done" in reattached.logs(handle)


def test_killing_the_submitting_process_does_not_kill_the_run(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run", steps=15, step_s=0.1)
    submitter = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from app.training.backends import Resources
        from app.training.backends.local import LocalBackend
        backend = LocalBackend(runner_command={STAND_IN_COMMAND!r})
        print(backend.submit(Path({str(run_dir)!r}), Resources()), flush=True)
        time.sleep(600)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", submitter], stdout=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None
    handle = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    backend = get_backend("local")
    assert backend.status(handle).state is RunState.RUNNING
    status = wait_for(backend, handle, finished)
    assert status.state is RunState.SUCCEEDED
    assert len(read_metrics(run_dir)) == 15


def test_a_recycled_pid_is_not_taken_for_the_run(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run")
    # This test process is alive, but it started at another time than the handle says.
    handle = json.dumps(
        {"backend": "local", "pid": os.getpid(), "start": 1.0, "run_dir": str(run_dir)}
    )
    backend = get_backend("local")
    status = backend.status(handle)
    assert status.state is RunState.FAILED
    assert "vanished" in status.detail
    backend.cancel(handle)  # must not signal this process's group
    assert backend.status(handle).state is RunState.CANCELLED


def test_handles_of_another_backend_or_garbage_are_refused(tmp_path: Path) -> None:
    backend = get_backend("local")
    with pytest.raises(BackendError):
        backend.status('{"backend": "ray", "submission_id": "x"}')
    with pytest.raises(BackendError):
        backend.status("not json")
    with pytest.raises(BackendError, match=r"config\.json"):
        backend.submit(tmp_path, Resources())


def test_several_gpus_launch_the_runner_through_accelerate_with_absolute_paths(
    tmp_path: Path,
) -> None:
    from app.training.backends.launch import runner_command

    run_dir = stand_in_run_dir(tmp_path / "run")
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "zero_stage": 3}))
    command = runner_command(run_dir, str(run_dir), 2, python="py", relative=False)
    assert command == [
        "py", "-m", "accelerate.commands.launch", "--config_file", f"{run_dir}/accelerate.yaml",
        "--num_processes", "2", "-m", "app.training.runner", str(run_dir),
    ]  # fmt: skip
    assert str(run_dir / "deepspeed.json") in (run_dir / "accelerate.yaml").read_text()
    deepspeed = json.loads((run_dir / "deepspeed.json").read_text())
    assert deepspeed["zero_optimization"]["stage"] == 3
    assert runner_command(run_dir, str(run_dir), 1, python="py", relative=False) == [
        "py", "-m", "app.training.runner", str(run_dir),
    ]  # fmt: skip
