"""`ray`: the runner as a Ray Job, through the job server on the cluster's head node.

The run directory travels as the job's `working_dir`; a staged copy of `app.training` travels
as `py_modules`, so the cluster needs Ray and the runner's libraries but not Trellis. The
entrypoint asks for the form's GPUs and CPUs (`entrypoint_num_gpus`, `entrypoint_num_cpus`).

Results come back two ways (docs/training-backends.md):
- always, through the job log: the wrapper prints each metrics line as `TRELLIS_METRIC {...}`
  and the summary as `TRELLIS_SUMMARY {...}`; `sync()` rebuilds RUN_DIR/metrics.jsonl,
  summary.json and runner.log here from the log, live while the job runs;
- with shared storage (the default: the cluster sees the run directory at the same path, as
  on a single GPU host or an NFS mount), the wrapper also copies output/ (the adapter),
  metrics, summary and exit code into the original run directory when the runner ends.

The handle stores the job server address, the submission id and the run directory, so any
process can re-attach.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from app.training.backends.base import (
    CANCEL_FILE,
    EXIT_FILE,
    LOG_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
    BackendError,
    BackendStatus,
    BackendUnavailable,
    Resources,
    RunState,
    decode_handle,
    encode_handle,
    read_summary,
    tail_lines,
    write_atomic,
)
from app.training.backends.launch import runner_command
from app.training.backends.package import stage_runner_package
from app.training.backends.wrapper import METRIC_PREFIX, SUMMARY_PREFIX

RUN_DIR_KEY = "trellis_run_dir"
T = TypeVar("T")
PENDING_STOP_DETAIL = "cancelled before Ray scheduled it; Ray drops the job when it is scheduled"

_STATES = {
    "PENDING": RunState.PENDING,
    "RUNNING": RunState.RUNNING,
    "SUCCEEDED": RunState.SUCCEEDED,
    "FAILED": RunState.FAILED,
    "STOPPED": RunState.CANCELLED,
}


def _truthy(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off", "")


class RayBackend:
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        python: str | None = None,
        runner_command: Sequence[str] | None = None,
        shared_storage: bool | None = None,
        env: Mapping[str, str] | None = None,
        grace_s: float = 30.0,
    ) -> None:
        """`address`: the job server (dashboard) URL, default $TRELLIS_RAY_ADDRESS; `python`:
        the cluster's interpreter for the runner, default $TRELLIS_RAY_PYTHON or `python`.

        `runner_command` runs in the job's working directory with `.` (the run dir) appended;
        default `python -m app.training.runner` (`accelerate launch` for several GPUs).
        `shared_storage` (default $TRELLIS_RAY_SHARED_STORAGE, on) copies results back into the
        run dir's path.
        """
        self.address = address or os.environ.get("TRELLIS_RAY_ADDRESS", "")
        self.python = python or os.environ.get("TRELLIS_RAY_PYTHON", "python")
        self.runner_command = list(runner_command) if runner_command else None
        if shared_storage is None:
            shared_storage = _truthy(os.environ.get("TRELLIS_RAY_SHARED_STORAGE", "1"))
        self.shared_storage = shared_storage
        self.env = dict(env or {})
        self.grace_s = grace_s
        self._clients: dict[str, Any] = {}

    # -- plumbing -------------------------------------------------------------------------------
    def _client(self, address: str) -> Any:
        if not address:
            raise BackendError("no Ray address: set TRELLIS_RAY_ADDRESS (e.g. http://head:8265)")
        if address not in self._clients:
            try:
                from ray.job_submission import JobSubmissionClient
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise BackendError("the ray backend needs `pip install 'trellis[ray]'`") from exc
            self._clients[address] = self._call(lambda: JobSubmissionClient(address))
        return self._clients[address]

    @staticmethod
    def _call(fn: Callable[[], T]) -> T:
        """Run a client call; an unreachable cluster becomes BackendUnavailable."""
        try:
            return fn()
        except OSError as exc:  # ConnectionError and requests' errors derive from OSError
            raise BackendUnavailable(f"Ray job server unreachable: {exc}") from exc

    def _parse(self, handle: str) -> tuple[str, str, Path]:
        data = decode_handle(handle, "ray")
        try:
            return str(data["address"]), str(data["submission_id"]), Path(data["run_dir"])
        except KeyError as exc:
            raise BackendError(f"malformed ray handle: {handle[:80]!r}") from exc

    # -- submit ---------------------------------------------------------------------------------
    def entrypoint(self, run_dir: Path, gpus: int) -> str:
        wrapper = [self.python, "-m", "app.training.backends.wrapper", "--echo-metrics"]
        if self.shared_storage:
            wrapper += ["--results-dir", str(run_dir)]
        if self.runner_command is None:
            runner = runner_command(run_dir, ".", gpus, python=self.python, relative=True)
        else:
            runner = [*self.runner_command, "."]
        return shlex.join([*wrapper, ".", "--", *runner])

    def submit(self, run_dir: Path, resources: Resources) -> str:
        run_dir = run_dir.resolve()
        if not (run_dir / "config.json").is_file():
            raise BackendError(f"{run_dir} has no config.json")
        client = self._client(self.address)
        live = self._live_job_for(client, run_dir)
        if live is not None:  # a submitter that died before storing its handle
            return encode_handle(
                "ray", address=self.address, submission_id=live, run_dir=str(run_dir)
            )
        (run_dir / CANCEL_FILE).unlink(missing_ok=True)  # left by an earlier, cancelled job
        with tempfile.TemporaryDirectory(prefix="trellis-ray-") as staging:
            package = stage_runner_package(Path(staging))
            runtime_env = {
                "working_dir": str(run_dir),
                "py_modules": [str(package)],
                "excludes": [f"/{LOG_FILE}", f"/{EXIT_FILE}", f"/{CANCEL_FILE}"],
                "env_vars": {"PYTHONUNBUFFERED": "1", **self.env},
            }
            memory = None if resources.memory_gb is None else int(resources.memory_gb * 2**30)
            submission_id = self._call(
                lambda: client.submit_job(
                    entrypoint=self.entrypoint(run_dir, resources.gpus),
                    runtime_env=runtime_env,
                    metadata={RUN_DIR_KEY: str(run_dir)},
                    entrypoint_num_cpus=resources.cpus,
                    entrypoint_num_gpus=resources.gpus,
                    entrypoint_memory=memory,
                )
            )
        return encode_handle(
            "ray", address=self.address, submission_id=submission_id, run_dir=str(run_dir)
        )

    def _live_job_for(self, client: Any, run_dir: Path) -> str | None:
        for job in self._call(client.list_jobs):
            mine = (job.metadata or {}).get(RUN_DIR_KEY) == str(run_dir)
            if mine and not job.status.is_terminal():
                return str(job.submission_id)
        return None

    # -- follow ---------------------------------------------------------------------------------
    def status(self, handle: str) -> BackendStatus:
        address, submission_id, run_dir = self._parse(handle)
        client = self._client(address)
        try:
            info = self._call(lambda: client.get_job_info(submission_id))
        except RuntimeError as exc:  # the job server answers 404 for unknown jobs
            if "does not exist" in str(exc) or "404" in str(exc):
                detail = f"Ray has no job {submission_id} (cluster restarted?)"
                return BackendStatus(RunState.FAILED, detail)
            raise BackendError(str(exc)) from exc
        state = _STATES.get(str(info.status.value), RunState.FAILED)
        if state is RunState.PENDING and (run_dir / CANCEL_FILE).exists():
            # Ray delivers a stop to a job only once it is scheduled: it will never train.
            return BackendStatus(RunState.CANCELLED, PENDING_STOP_DETAIL)
        exit_code = getattr(info, "driver_exit_code", None)  # reported since Ray 2.41
        detail = info.message or ""
        summary = read_summary(run_dir) if state is RunState.FAILED else None
        if summary is not None and summary.get("error"):  # the runner's reason, once synced
            detail = str(summary["error"])
        return BackendStatus(state, detail, exit_code)

    def _raw_logs(self, handle: str) -> tuple[str, Path]:
        address, submission_id, run_dir = self._parse(handle)
        client = self._client(address)
        try:
            return str(self._call(lambda: client.get_job_logs(submission_id))), run_dir
        except RuntimeError as exc:
            raise BackendError(str(exc)) from exc

    def logs(self, handle: str, tail: int = 200) -> str:
        text, _run_dir = self._raw_logs(handle)
        return tail_lines(_plain_log(text), tail)

    def sync(self, handle: str) -> None:
        text, run_dir = self._raw_logs(handle)
        metrics, summary = parse_job_log(text)
        current = (run_dir / METRICS_FILE).read_text() if (run_dir / METRICS_FILE).exists() else ""
        if len(metrics) > len(current.splitlines()):
            write_atomic(run_dir / METRICS_FILE, "".join(line + "\n" for line in metrics))
        if summary is not None and not (run_dir / SUMMARY_FILE).exists():
            write_atomic(run_dir / SUMMARY_FILE, json.dumps(summary))
        write_atomic(run_dir / LOG_FILE, _plain_log(text))

    # -- cancel ---------------------------------------------------------------------------------
    def cancel(self, handle: str) -> None:
        """Ask Ray to stop the job (SIGTERM to its processes, SIGKILL a few seconds later).

        A job still waiting for resources cannot be stopped yet: Ray queues the stop and
        applies it when the job is scheduled. The run directory's cancel marker makes such a
        job read `cancelled` from then on, for any process that shares the run directory.
        """
        address, submission_id, run_dir = self._parse(handle)
        client = self._client(address)
        if run_dir.is_dir():
            (run_dir / CANCEL_FILE).touch()
        self._call(lambda: client.stop_job(submission_id))
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline:
            if self.status(handle).state.terminal:
                return
            time.sleep(0.5)


def _plain_log(text: str) -> str:
    """The job log without the wrapper's metric and summary lines."""
    return "\n".join(
        line
        for line in text.splitlines()
        if METRIC_PREFIX not in line and SUMMARY_PREFIX not in line
    )


def parse_job_log(text: str) -> tuple[list[str], dict[str, Any] | None]:
    """The metric lines (JSON text, in order) and the summary the wrapper printed."""
    metrics: list[str] = []
    summary: dict[str, Any] | None = None
    for raw in text.splitlines():
        for prefix in (METRIC_PREFIX, SUMMARY_PREFIX):
            at = raw.find(prefix)  # a progress bar may share the line (\r, no newline)
            if at < 0:
                continue
            payload = raw[at + len(prefix) :].strip()
            try:
                value = json.loads(payload)
            except ValueError:
                continue
            if not isinstance(value, dict):
                continue
            if prefix == METRIC_PREFIX:
                metrics.append(json.dumps(value, separators=(",", ":")))
            else:
                summary = value
    return metrics, summary
