"""The small parent process every backend puts between the scheduler and the runner.

    python -m app.training.backends.wrapper [--echo-metrics] [--results-dir DIR] RUN_DIR -- CMD...

It runs CMD (the runner) as its child in the same process group, waits for it, and then:
- writes RUN_DIR/exit_code.json, so a re-attached `local` backend learns how the runner ended
  even though it is not the runner's parent;
- with --echo-metrics, copies each complete line the runner appends to RUN_DIR/metrics.jsonl to
  stdout as `TRELLIS_METRIC {...}` while it runs, and RUN_DIR/summary.json as
  `TRELLIS_SUMMARY {...}` at the end: on Ray the job log is the channel that always reaches the
  worker, shared storage or not;
- with --results-dir, copies metrics, summary, exit code and output/ there (a path the worker
  can read: the original run dir on shared storage).
Its exit status is the runner's (128 + signal number when the runner died of a signal).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from app.training.backends.base import (
    EXIT_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
    read_summary,
    write_atomic,
)

METRIC_PREFIX = "TRELLIS_METRIC "
SUMMARY_PREFIX = "TRELLIS_SUMMARY "
POLL_S = 0.5


class MetricsEcho:
    """Follows RUN_DIR/metrics.jsonl and writes each new complete line to stdout, prefixed."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / METRICS_FILE
        self.offset = 0

    def poll(self) -> None:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        for line in chunk[: end + 1].splitlines():
            if line.strip():
                # One write() per line: a pipe or O_APPEND file never splits it.
                os.write(1, METRIC_PREFIX.encode() + line.strip() + b"\n")


def _echo_summary(run_dir: Path) -> None:
    summary = read_summary(run_dir)
    if summary is not None:
        line = SUMMARY_PREFIX + json.dumps(summary, separators=(",", ":")) + "\n"
        os.write(1, line.encode())


def copy_results(run_dir: Path, dest: Path) -> None:
    """Copy what the runner produced into `dest`, each file replaced whole."""
    if dest.resolve() == run_dir.resolve():
        return
    dest.mkdir(parents=True, exist_ok=True)
    for name in (METRICS_FILE, SUMMARY_FILE, EXIT_FILE):
        src = run_dir / name
        if src.is_file():
            write_atomic(dest / name, src.read_bytes())
    output = run_dir / "output"
    if output.is_dir():
        partial = dest / ".output.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(output, partial)
        shutil.rmtree(dest / "output", ignore_errors=True)
        partial.rename(dest / "output")


def run(run_dir: Path, command: list[str], *, echo: bool, results_dir: Path | None) -> int:
    child = subprocess.Popen(command)  # noqa: S603 - the runner command this wrapper exists for
    terminated = False

    def on_term(signum: int, _frame: FrameType | None) -> None:
        nonlocal terminated
        terminated = True
        # A signal to our whole group (cancel) already reached the runner; one sent to this
        # process alone is passed on.
        try:
            if os.getpgid(child.pid) != os.getpgrp():
                child.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    follower = MetricsEcho(run_dir) if echo else None
    while True:
        try:
            returncode = child.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            if follower is not None:
                follower.poll()
    if follower is not None:
        follower.poll()
        _echo_summary(run_dir)
    exit_code = returncode if returncode >= 0 else 128 - returncode
    record = {
        "returncode": returncode,
        "exit_code": exit_code,
        "terminated": terminated,
        "finished_at": time.time(),
    }
    write_atomic(run_dir / EXIT_FILE, json.dumps(record))
    if results_dir is not None:
        copy_results(run_dir, results_dir)
    return exit_code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        usage = "usage: wrapper [--echo-metrics] [--results-dir DIR] RUN_DIR -- CMD..."
        print(usage, file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="app.training.backends.wrapper")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--echo-metrics", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    if not command:
        parser.error("no command after --")
    sys.stdout.flush()
    return run(args.run_dir, command, echo=args.echo_metrics, results_dir=args.results_dir)


if __name__ == "__main__":
    sys.exit(main())
