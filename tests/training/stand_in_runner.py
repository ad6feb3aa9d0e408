"""A stand-in for `python -m app.training.runner RUN_DIR`, keeping its contract.

Reads RUN_DIR/config.json's "stand_in" object: steps (default 5), step_s (seconds per step,
default 0.1), fail (exit 1 with a failed summary), ignore_sigterm (only SIGKILL stops it).
Writes one metrics line per step to RUN_DIR/metrics.jsonl, output/adapter/ and summary.json;
SIGTERM writes a cancelled summary and exits 143. Used to test the backends' mechanics.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def main() -> int:
    run_dir = Path(sys.argv[1]).resolve()
    config = json.loads((run_dir / "config.json").read_text()).get("stand_in", {})
    steps, step_s = int(config.get("steps", 5)), float(config.get("step_s", 0.1))
    stop = {"requested": False}

    def on_term(_signum: int, _frame: object) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGTERM, signal.SIG_IGN if config.get("ignore_sigterm") else on_term)
    print(f"stand-in runner pid {os.getpid()} starting {steps} steps", flush=True)
    print(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}", flush=True)
    with (run_dir / "metrics.jsonl").open("a") as metrics:
        for step in range(1, steps + 1):
            if stop["requested"]:
                summary = {"state": "cancelled", "error": None, "step": step - 1}
                (run_dir / "summary.json").write_text(json.dumps(summary))
                print("stand-in runner cancelled", flush=True)
                return 143
            time.sleep(step_s)
            row = {"event": "train", "step": step, "loss": 4.0 / step, "time": time.time()}
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()
            print(f"step {step} loss {row['loss']:.3f}", flush=True)
    if config.get("fail"):
        (run_dir / "summary.json").write_text(json.dumps({"state": "failed", "error": "boom"}))
        print("stand-in runner failing on purpose", file=sys.stderr, flush=True)
        return 1
    adapter = run_dir / "output" / "adapter"
    adapter.mkdir(parents=True, exist_ok=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 16}))
    (run_dir / "summary.json").write_text(json.dumps({"state": "succeeded", "steps": steps}))
    print("stand-in runner done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
