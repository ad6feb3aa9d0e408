"""``python -m app.training.runner RUN_DIR``: train the run directory, write summary.json.

Exit status: 0 succeeded, 1 failed (summary.json says why, without a stack trace; the trace goes
to stderr), 143 cancelled by SIGTERM (130 by SIGINT).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from app.training.runner.spec import RunError, load_spec, verify_data

log = logging.getLogger("trellis.runner")


# A BaseException, so that no `except Exception` in a library swallows the cancellation.
class Cancelled(BaseException):
    """Raised in the main thread by SIGTERM/SIGINT: stop now, save nothing more."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Cancelled(signum)


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    path = run_dir / "summary.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, RunError):
        return str(exc)
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m app.training.runner RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    started = time.perf_counter()
    writer = None
    try:
        main_process = int(os.environ.get("RANK", "0")) == 0
        spec = load_spec(run_dir)
        log.info("run %s: %s %s on %s", run_dir, spec.method, spec.preset, spec.base_model)
        # The data is checked before torch and TRL load: a changed file fails in a second.
        files = verify_data(run_dir, spec)
        from app.training.runner.metrics import MetricsWriter
        from app.training.runner.train import run

        writer = MetricsWriter(run_dir / "metrics.jsonl") if main_process else None
        summary = run(run_dir, spec, files, writer)
        if writer is not None:
            writer.write("end", step=summary["steps"], epoch=summary["epochs"])
        if main_process:
            write_summary(run_dir, summary)
        log.info("succeeded: %d steps in %.1f s", summary["steps"], summary["runtime_s"])
        return 0
    except Cancelled as exc:
        log.warning("cancelled by %s", exc)
        if writer is not None:
            writer.write("end")
        write_summary(
            run_dir,
            {"state": "cancelled", "error": f"cancelled by {exc}", **_elapsed(started)},
        )
        return 128 + exc.signum
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        message = _error_message(exc)
        log.error("failed: %s", message)
        if writer is not None:
            writer.write("end")
        write_summary(run_dir, {"state": "failed", "error": message, **_elapsed(started)})
        return 1
    finally:
        if writer is not None:
            writer.close()


def _elapsed(started: float) -> dict[str, float]:
    return {"runtime_s": round(time.perf_counter() - started, 3)}


if __name__ == "__main__":
    sys.exit(main())
