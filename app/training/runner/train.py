"""One training run: verify the data, load the model, train with TRL, save, summarise."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from app.training.runner.metrics import MetricsCallback, MetricsWriter, peak_memory_mb
from app.training.runner.model import (
    Placement,
    load_model,
    load_tokenizer,
    lora_config,
    merge_adapter,
    placement,
)
from app.training.runner.spec import RunSpec, read_rows

log = logging.getLogger("trellis.runner")


def build_datasets(spec: RunSpec, files: dict[str, list[Path]]) -> tuple[Any, Any]:
    """Train and eval datasets: the snapshot's eval files, else ``eval_fraction`` of train."""
    from datasets import Dataset

    train_rows = [row for path in files["train"] for row in read_rows(path, spec.method)]
    eval_rows = [row for path in files["eval"] for row in read_rows(path, spec.method)]
    train = Dataset.from_list(train_rows)
    evaluation = Dataset.from_list(eval_rows) if eval_rows else None
    if evaluation is None and spec.eval_fraction > 0 and len(train) >= 2:
        held_out = max(1, round(len(train) * spec.eval_fraction))
        split = train.train_test_split(test_size=held_out, seed=spec.seed)
        train, evaluation = split["train"], split["test"]
    return train, evaluation


def common_arguments(
    spec: RunSpec, where: Placement, output_dir: Path, has_eval: bool
) -> dict[str, Any]:
    """The TrainingArguments shared by SFTConfig and DPOConfig."""
    arguments: dict[str, Any] = {
        "output_dir": str(output_dir),
        "learning_rate": spec.learning_rate,
        "num_train_epochs": spec.epochs,
        "max_steps": spec.max_steps,
        "per_device_train_batch_size": spec.micro_batch,
        "per_device_eval_batch_size": spec.micro_batch,
        "gradient_accumulation_steps": spec.grad_accum,
        "optim": where.optimizer,
        "lr_scheduler_type": spec.lr_scheduler,
        "warmup_steps": spec.warmup_ratio,  # a float below 1 is a ratio of the total steps
        "weight_decay": spec.weight_decay,
        "max_grad_norm": spec.max_grad_norm,
        "gradient_checkpointing": spec.gradient_checkpointing,
        "seed": spec.seed,
        "logging_steps": spec.logging_steps,
        "logging_first_step": True,
        "save_strategy": "no",  # the runner saves once, at the end
        "report_to": "none",
        "disable_tqdm": True,
        "bf16": where.cuda and str(where.dtype) == "torch.bfloat16",
        "fp16": where.cuda and str(where.dtype) == "torch.float16",
        "use_cpu": not where.cuda,
    }
    if spec.gradient_checkpointing:
        arguments["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    if has_eval and spec.eval_steps:
        arguments.update({"eval_strategy": "steps", "eval_steps": spec.eval_steps})
    elif has_eval:
        arguments["eval_strategy"] = "epoch"
    if where.optimizer.startswith("galore"):
        arguments["optim_target_modules"] = [r".*attn.*", r".*mlp.*"]
    return arguments


def build_trainer(
    spec: RunSpec,
    model: Any,
    tokenizer: Any,
    datasets: tuple[Any, Any],
    arguments: dict[str, Any],
    callbacks: list[Any],
) -> Any:
    train, evaluation = datasets
    peft_config = lora_config(spec)
    if spec.method == "sft":
        from trl.trainer.sft_config import SFTConfig
        from trl.trainer.sft_trainer import SFTTrainer

        sft_config = SFTConfig(
            max_length=spec.sequence_len,
            packing=False,
            assistant_only_loss=spec.assistant_only_loss,
            **arguments,
        )
        return SFTTrainer(
            model=model,
            args=sft_config,
            train_dataset=train,
            eval_dataset=evaluation,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
        )
    from trl.trainer.dpo_config import DPOConfig
    from trl.trainer.dpo_trainer import DPOTrainer

    dpo_config = DPOConfig(beta=spec.dpo_beta, max_length=spec.sequence_len, **arguments)
    return DPOTrainer(
        model=model,
        args=dpo_config,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )


def save_outputs(
    spec: RunSpec, trainer: Any, tokenizer: Any, where: Placement, out: Path
) -> dict[str, str]:
    adapter_dir = out / "adapter"
    trainer.save_model(str(adapter_dir))
    # DPO from an SFT adapter trains "default" against a frozen copy named "ref": keep one adapter.
    shutil.rmtree(adapter_dir / "ref", ignore_errors=True)
    tokenizer.save_pretrained(str(out / "tokenizer"))
    effective = json.loads(trainer.args.to_json_string())
    effective["trellis_runner"] = {"spec": spec.to_dict(), **where.describe()}
    (out / "training_args.json").write_text(
        json.dumps(effective, indent=2) + "\n", encoding="utf-8"
    )
    paths = {"adapter_dir": "output/adapter", "tokenizer_dir": "output/tokenizer"}
    if spec.merge and spec.preset != "full":
        log.info("merging the adapter into the base model")
        merge_adapter(spec, str(adapter_dir), str(out / "merged"), where)
        tokenizer.save_pretrained(str(out / "merged"))
        paths["merged_dir"] = "output/merged"
    return paths


def run(
    run_dir: Path, spec: RunSpec, files: dict[str, list[Path]], writer: MetricsWriter | None
) -> dict[str, Any]:
    """Train on the verified ``files``; return the success summary. Raises on failure."""
    started = time.perf_counter()
    import torch
    from transformers import set_seed

    set_seed(spec.seed)
    where = placement(spec)
    for note in where.notes:
        log.warning(note)
    datasets = build_datasets(spec, files)
    log.info("data verified: %d train rows, %d eval rows", len(datasets[0]), len(datasets[1] or []))
    tokenizer = load_tokenizer(spec)
    model = load_model(spec, where)
    out = run_dir / "output"
    out.mkdir(parents=True, exist_ok=True)
    arguments = common_arguments(spec, where, out / "trainer", datasets[1] is not None)
    callbacks = [MetricsCallback(writer)] if writer is not None else []
    trainer = build_trainer(spec, model, tokenizer, datasets, arguments, callbacks)
    if writer is not None:
        writer.write("start", step=0, epoch=0.0)
    result = trainer.train()
    if datasets[1] is not None and (
        writer is None or writer.last_eval_step != trainer.state.global_step
    ):
        trainer.evaluate()  # the eval loss of the final weights, when no scheduled eval gave it
    paths = (
        save_outputs(spec, trainer, tokenizer, where, out)
        if trainer.is_world_process_zero()
        else {}
    )
    shutil.rmtree(out / "trainer", ignore_errors=True)
    losses = writer.train_losses if writer else []
    summary: dict[str, Any] = {
        "state": "succeeded",
        "method": spec.method,
        "preset": spec.preset,
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_loss": result.training_loss,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "eval_loss_last": writer.eval_losses[-1] if writer and writer.eval_losses else None,
        "tokens_per_s": (sum(writer.tokens_per_s) / len(writer.tokens_per_s))
        if writer and writer.tokens_per_s
        else None,
        "peak_memory_mb": peak_memory_mb(),
        "runtime_s": round(time.perf_counter() - started, 3),
        "train_runtime_s": result.metrics.get("train_runtime"),
        "torch": torch.__version__,
        **where.describe(),
        **paths,
    }
    return summary
