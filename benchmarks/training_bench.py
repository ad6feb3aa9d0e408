"""The training runner's steps/s beside a plain TRL script of the same configuration, on the
same data, in the same invocation (goal: the runner at >= 95 % of plain TRL).

Both sides are fresh processes training the same random Llama with the same LoRA, SFTConfig
values and rows; steps/s is ``global_step / train_runtime`` as each Trainer measures its own
``train()`` (model loading and import time excluded from both). The runner's extra work per
step, its metrics callback and metrics.jsonl writes, is what the ratio shows. Rounds alternate
which side goes first; the best round of each side counts. The runner's start-to-first-metric
time (process spawn to the first ``train`` line in metrics.jsonl) is printed too.

    .venv/bin/python -m benchmarks.training_bench            # CI size: tiny model, 120 steps
    .venv/bin/python -m benchmarks.training_bench --large    # hidden 256, 4 layers, 300 steps
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from tests.training.tiny_model import build_tiny_model, sft_rows, write_run_dir

ROOT = Path(__file__).resolve().parents[1]

PLAIN_TRL = textwrap.dedent(
    """
    import json, sys
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    run_dir = sys.argv[1]
    cfg = json.load(open(run_dir + "/config.json"))
    rows = [json.loads(line) for line in open(run_dir + "/data/train.jsonl")]
    set_seed(cfg["seed"])
    tokenizer = AutoTokenizer.from_pretrained(cfg["base_model"])
    model = AutoModelForCausalLM.from_pretrained(cfg["base_model"])
    model.config.use_cache = False  # no KV cache while training, as the runner sets it
    lora = cfg["lora"]
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            output_dir=run_dir + "/plain", max_length=cfg["sequence_len"], packing=False,
            learning_rate=cfg["learning_rate"], num_train_epochs=cfg["epochs"],
            max_steps=cfg["max_steps"], per_device_train_batch_size=cfg["micro_batch"],
            gradient_accumulation_steps=cfg["grad_accum"], optim=cfg["optimizer"],
            lr_scheduler_type=cfg["lr_scheduler"], warmup_steps=cfg["warmup_ratio"],
            gradient_checkpointing=cfg["gradient_checkpointing"], seed=cfg["seed"],
            logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
            use_cpu=True, bf16=False,  # SFTConfig defaults to bf16: CPU autocast, not fp32
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"],
                               lora_dropout=lora["dropout"], target_modules=lora["targets"],
                               task_type="CAUSAL_LM"),
    )
    result = trainer.train()
    print(json.dumps({"steps": trainer.state.global_step,
                      "train_runtime_s": result.metrics["train_runtime"]}))
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1")})
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


def run_runner(run_dir: Path) -> dict[str, float]:
    for name in ("metrics.jsonl", "summary.json"):
        (run_dir / name).unlink(missing_ok=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.training.runner", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    first_metric = None
    metrics = run_dir / "metrics.jsonl"
    while process.poll() is None:
        if first_metric is None and metrics.exists() and '"train"' in metrics.read_text():
            first_metric = time.perf_counter() - started
        time.sleep(0.02)
    summary = json.loads((run_dir / "summary.json").read_text())
    if process.returncode != 0:
        raise SystemExit(f"runner failed: {summary.get('error')}")
    return {
        "steps_per_s": summary["steps"] / summary["train_runtime_s"],
        "first_metric_s": first_metric or float("nan"),
    }


def run_plain(run_dir: Path, script: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, str(script), str(run_dir)],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return {"steps_per_s": data["steps"] / data["train_runtime_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", action="store_true", help="hidden 256, 4 layers, 300 steps")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    hidden, layers, steps, seq, rows = (256, 4, 300, 256, 64) if args.large else (64, 2, 120, 64, 8)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = build_tiny_model(root / "model", hidden_size=hidden, num_layers=layers)
        run_dir = write_run_dir(
            root / "run",
            model_dir,
            rows=sft_rows(repeat=rows // 8),
            max_steps=steps,
            sequence_len=seq,
            epochs=1000,
            preset="lora",
        )
        script = root / "plain_trl.py"
        script.write_text(PLAIN_TRL)
        runner: list[dict[str, float]] = []
        plain: list[dict[str, float]] = []
        for round_ in range(args.rounds):
            order = ("runner", "plain") if round_ % 2 == 0 else ("plain", "runner")
            for side in order:
                if side == "runner":
                    runner.append(run_runner(run_dir))
                else:
                    plain.append(run_plain(run_dir, script))
        best_runner = max(r["steps_per_s"] for r in runner)
        best_plain = max(p["steps_per_s"] for p in plain)
        size = "large" if args.large else "ci"
        print(f"size {size}: hidden {hidden}, {layers} layers, seq {seq}, {steps} steps, LoRA r16")
        rounds_plain = ", ".join(f"{p['steps_per_s']:.2f}" for p in plain)
        rounds_runner = ", ".join(f"{r['steps_per_s']:.2f}" for r in runner)
        print(f"plain TRL   {best_plain:8.2f} steps/s  (rounds: {rounds_plain})")
        print(f"runner      {best_runner:8.2f} steps/s  (rounds: {rounds_runner})")
        print(f"ratio       {best_runner / best_plain:8.1%}  (goal >= 95 %)")
        first = min(r["first_metric_s"] for r in runner)
        print(f"runner start to first metric: {first:.2f} s (process spawn, imports, model load)")


if __name__ == "__main__":
    main()
