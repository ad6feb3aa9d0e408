"""Time from *Submit* to the first metric on each backend that runs here (local, Ray).

For each backend, one real SFT run of the tiny random model through the real runner:
submit -> first metrics line visible on the worker's side (for Ray: after `sync`, i.e. through
the job log) -> succeeded. The Ray head is started for the run on free ports (the test helper)
and stopped afterwards; its start-up is reported apart and not counted in the run figures.

    PYTHONPATH=. python -m benchmarks.backend_bench [--steps 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from app.training.backends import Resources, TrainingBackend
from app.training.backends.base import read_metrics
from app.training.backends.local import LocalBackend
from tests.training.tiny_model import build_tiny_model, sft_rows, write_run_dir

ENV = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def measure(backend: TrainingBackend, run_dir: Path) -> tuple[float, float]:
    """Seconds from submit to the first metric line, and to the final state."""
    started = time.perf_counter()
    handle = backend.submit(run_dir, Resources(gpus=0, cpus=1))
    first = None
    while True:
        backend.sync(handle)
        if first is None and read_metrics(run_dir):
            first = time.perf_counter() - started
        status = backend.status(handle)
        if status.state.terminal:
            break
        time.sleep(0.1)
    total = time.perf_counter() - started
    if status.state.value != "succeeded":
        raise SystemExit(f"run {status}: {backend.logs(handle, 30)}")
    assert first is not None
    return first, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    os.environ.update(ENV)
    with tempfile.TemporaryDirectory(prefix="trellis-backend-bench-") as tmp:
        root = Path(tmp)
        model = build_tiny_model(root / "model")

        def run_dir(name: str) -> Path:
            return write_run_dir(root / name, model, rows=sft_rows(4), max_steps=args.steps)

        results: dict[str, list[tuple[float, float]]] = {"local": []}
        for i in range(args.rounds):
            results["local"].append(measure(LocalBackend(env=ENV), run_dir(f"local-{i}")))
        if not args.no_ray:
            from app.training.backends.ray_jobs import RayBackend
            from tests.training.ray_head import ray_head

            head_started = time.perf_counter()
            with ray_head(num_cpus=1) as head:
                print(f"ray head up in {time.perf_counter() - head_started:.1f} s (not counted)")
                results["ray"] = []
                for i in range(args.rounds):
                    backend = RayBackend(head.address, env=ENV)
                    results["ray"].append(measure(backend, run_dir(f"ray-{i}")))
    print(f"{args.steps} SFT steps of the tiny model on CPU, {args.rounds} round(s), best shown")
    print(f"{'backend':8} {'submit->first metric':>22} {'submit->succeeded':>19}")
    for name, rows in results.items():
        first = min(r[0] for r in rows)
        total = min(r[1] for r in rows)
        print(f"{name:8} {first:>20.2f} s {total:>17.2f} s")
    if "ray" in results:
        extra = min(r[0] for r in results["ray"]) - min(r[0] for r in results["local"])
        print(f"ray - local, to first metric: {extra:+.2f} s (job scheduling, runtime_env, log)")


if __name__ == "__main__":
    main()
