"""The runner for real, as a subprocess on a tiny random Llama: SFT, DPO from the SFT adapter,
a changed data file, SIGTERM. CPU, fp32, a few dozen steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.training.tiny_model import (
    build_tiny_model,
    build_tokenizer,
    dpo_rows,
    sft_rows,
    write_run_dir,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {
    "event",
    "step",
    "epoch",
    "loss",
    "learning_rate",
    "grad_norm",
    "eval_loss",
    "tokens_per_s",
    "peak_memory_mb",
    "time",
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"})
    return env


def run_runner(run_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.training.runner", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        cwd=run_dir,
    )


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def sft_run(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = write_run_dir(
        tmp_path_factory.mktemp("sft"),
        model_dir,
        rows=sft_rows(),
        eval_rows=sft_rows()[:4],
        eval_steps=10,
        merge=True,
    )
    result = run_runner(run_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return run_dir


def test_sft_memorises_the_set_and_reports_every_metric(sft_run: Path) -> None:
    summary = read_summary(sft_run)
    assert summary["state"] == "succeeded"
    assert summary["steps"] == 30
    assert summary["train_loss_last"] <= summary["train_loss_first"] / 2
    metrics = read_metrics(sft_run)
    assert all(set(m) == FIELDS for m in metrics)
    assert metrics[0]["event"] == "start"
    assert metrics[-1]["event"] == "end"
    train = [m for m in metrics if m["event"] == "train"]
    assert [m["step"] for m in train] == list(range(1, 31))
    assert all(
        m["loss"] > 0 and m["learning_rate"] > 0 and m["grad_norm"] is not None for m in train
    )
    assert all(m["peak_memory_mb"] is None for m in metrics)  # CPU: no GPU memory to report
    assert any(m["tokens_per_s"] for m in train)
    evals = [m for m in metrics if m["event"] == "eval"]
    assert [m["step"] for m in evals] == [10, 20, 30]
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    assert summary["eval_loss_last"] == evals[-1]["eval_loss"]
    args = json.loads((sft_run / "output" / "training_args.json").read_text())
    assert args["learning_rate"] == 1e-2
    assert args["per_device_train_batch_size"] == 4
    assert args["trellis_runner"]["device"] == "cpu"
    assert args["trellis_runner"]["spec"]["lora"]["rank"] == 16
    assert (sft_run / "output" / "tokenizer" / "tokenizer.json").is_file()
    assert (sft_run / "output" / "merged" / "config.json").is_file()
    assert not (sft_run / "output" / "trainer").exists()


def _answer_nll(model: Any, tokenizer: Any) -> float:
    """Mean negative log-likelihood of the assistant tokens of the training conversations."""
    import torch

    total, count = 0.0, 0
    for row in sft_rows():
        encoded = tokenizer.apply_chat_template(
            row["messages"], return_dict=True, return_assistant_tokens_mask=True
        )
        ids = torch.tensor([encoded["input_ids"]])
        mask = torch.tensor(encoded["assistant_masks"][1:], dtype=torch.bool)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1]
        nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")
        total += float(nll[mask].sum())
        count += int(mask.sum())
    return total / count


def test_adapter_loads_with_peft_and_changes_the_output(sft_run: Path, model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(sft_run / "output" / "tokenizer")
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    before = _answer_nll(base, tokenizer)
    tuned = PeftModel.from_pretrained(base, sft_run / "output" / "adapter")
    after = _answer_nll(tuned, tokenizer)
    # The memorised answers became far likelier than under the base model.
    assert after < before / 2, (before, after)
    merged = AutoModelForCausalLM.from_pretrained(sft_run / "output" / "merged")
    assert abs(_answer_nll(merged, tokenizer) - after) < 1e-3


def test_dpo_from_the_sft_adapter(sft_run: Path, model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    run_dir = write_run_dir(
        tmp_path,
        model_dir,
        method="dpo",
        rows=dpo_rows(),
        init_adapter=str(sft_run / "output" / "adapter"),
        max_steps=4,
        learning_rate=5e-3,
        dpo_beta=0.1,
    )
    result = run_runner(run_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["state"] == "succeeded"
    assert summary["steps"] == 4
    train = [m for m in read_metrics(run_dir) if m["event"] == "train"]
    assert len(train) == 4
    # Against a frozen copy of the SFT adapter the first DPO loss is log 2.
    assert abs(train[0]["loss"] - 0.6931) < 0.01
    adapter = run_dir / "output" / "adapter"
    assert not (adapter / "ref").exists()
    sft_weights = load_file(sft_run / "output" / "adapter" / "adapter_model.safetensors")
    dpo_weights = load_file(adapter / "adapter_model.safetensors")
    assert set(sft_weights) == set(dpo_weights)
    assert any(not sft_weights[k].equal(dpo_weights[k]) for k in sft_weights)


def test_a_changed_data_file_fails_clearly(model_dir: Path, tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, model_dir)
    with (run_dir / "data" / "train.jsonl").open("a") as handle:
        handle.write(json.dumps(sft_rows()[0]) + "\n")
    result = run_runner(run_dir)
    assert result.returncode == 1
    summary = read_summary(run_dir)
    assert summary["state"] == "failed"
    assert "data/train.jsonl does not match the snapshot: SHA-256" in summary["error"]
    assert "Traceback" not in summary["error"]
    assert not (run_dir / "output").exists()


def test_a_lora_target_the_model_lacks_fails_clearly(model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from app.training.runner.model import check_targets
    from app.training.runner.spec import RunError

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    check_targets(model, ("q_proj", "down_proj"))
    with pytest.raises(
        RunError, match=r"LoRA target module\(s\) query_key_value not found in Llama"
    ):
        check_targets(model, ("q_proj", "query_key_value"))


def test_sigterm_cancels_within_ten_seconds(model_dir: Path, tmp_path: Path) -> None:
    run_dir = write_run_dir(tmp_path, model_dir, max_steps=100_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "app.training.runner", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 90
        metrics = run_dir / "metrics.jsonl"
        while time.monotonic() < deadline:
            if metrics.exists() and '"event": "train"' in metrics.read_text():
                break
            assert process.poll() is None, "the runner ended before training"
            time.sleep(0.1)
        else:
            pytest.fail("no train metric within 90 s")
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        assert time.monotonic() - sent < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 128 + signal.SIGTERM
    summary = read_summary(run_dir)
    assert summary["state"] == "cancelled"
    assert not (run_dir / "output" / "adapter").exists()
    assert read_metrics(run_dir)[-1]["event"] == "end"


def test_the_runner_imports_nothing_of_the_web_app_or_database() -> None:
    code = (
        "import sys\n"
        "import app.training.runner.__main__, app.training.runner.train, "
        "app.training.runner.distributed\n"
        "bad = [m for m in ('app.db', 'fastapi', 'sqlalchemy', 'celery', 'pydantic') "
        "if m in sys.modules]\n"
        "trellis = [m for m in sys.modules if m.startswith('app.') "
        "and m != 'app.training' and not m.startswith('app.training.runner')]\n"
        "print(bad, trellis)\n"
        "sys.exit(1 if bad or trellis else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_tokenizer_helper_renders_the_chat_template() -> None:
    tokenizer = build_tokenizer()
    text = tokenizer.apply_chat_template(sft_rows()[0]["messages"], tokenize=False)
    assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_end|>\n")
