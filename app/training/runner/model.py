"""Loading the base model for a preset: 4-bit NF4 on CUDA for QLoRA, 16-bit for LoRA and full,
fp32 everywhere on CPU (no 4-bit without CUDA), and the LoRA config the trainer wraps it with."""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from app.training.runner.spec import RunError, RunSpec

log = logging.getLogger("trellis.runner")

# Optimizers whose kernels live in bitsandbytes' CUDA build: on CPU they become adamw_torch.
CUDA_ONLY_OPTIMIZERS = {
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "adamw_8bit",
    "adamw_bnb_8bit",
    "paged_lion_8bit",
    "paged_lion_32bit",
    "lion_8bit",
}


@dataclass(frozen=True)
class Placement:
    """Where and how the run trains: device, weight precision, 4-bit or not, the optimizer."""

    cuda: bool
    dtype: torch.dtype
    load_in_4bit: bool
    optimizer: str
    notes: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "device": "cuda" if self.cuda else "cpu",
            "dtype": str(self.dtype).removeprefix("torch."),
            "load_in_4bit": self.load_in_4bit,
            "optimizer": self.optimizer,
            "notes": list(self.notes),
        }


def placement(spec: RunSpec) -> Placement:
    cuda = torch.cuda.is_available()
    notes = []
    if cuda:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.float32
    load_in_4bit = spec.preset == "qlora" and cuda
    if spec.preset == "qlora" and not cuda:
        notes.append("no CUDA: the base model is loaded in fp32, not 4-bit")
    optimizer = spec.optimizer
    if not cuda and optimizer in CUDA_ONLY_OPTIMIZERS:
        notes.append(
            f"no CUDA: optimizer {optimizer} needs bitsandbytes on CUDA, using adamw_torch"
        )
        optimizer = "adamw_torch"
    if optimizer.startswith("galore") and importlib.util.find_spec("galore_torch") is None:
        raise RunError(
            f"optimizer {optimizer} needs the galore-torch package on the training host "
            "(pip install galore-torch)"
        )
    return Placement(cuda, dtype, load_in_4bit, optimizer, tuple(notes))


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def load_model(spec: RunSpec, where: Placement) -> Any:
    """The base model (and, for ``init_adapter``, the adapter on it, trainable)."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs: dict[str, Any] = {"dtype": where.dtype}
    if where.load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=where.dtype,
            # ZeRO-3 shards parameters of one dtype: store the 4-bit weights in the compute dtype.
            bnb_4bit_quant_storage=where.dtype if spec.zero_stage == 3 else torch.uint8,
        )
        if spec.zero_stage != 3:
            kwargs["device_map"] = {"": _local_rank()}
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(spec.base_model, **kwargs)
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot load base model {spec.base_model}: {exc}") from None
    model.config.use_cache = False
    if where.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            model, use_gradient_checkpointing=spec.gradient_checkpointing
        )
    if spec.preset != "full":
        check_targets(model, spec.lora.targets)
    if spec.init_adapter:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, spec.init_adapter, is_trainable=True)
        except (OSError, ValueError) as exc:
            raise RunError(f"cannot load init_adapter {spec.init_adapter}: {exc}") from None
    return model


def module_suffixes(model: Any) -> set[str]:
    """The last component of every module name (``q_proj``, ``mlp``, ...)."""
    return {name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name}


def check_targets(model: Any, targets: tuple[str, ...]) -> None:
    if targets == ("all-linear",):
        return
    known = module_suffixes(model)
    missing = [t for t in targets if t not in known]
    if missing:
        raise RunError(
            f"LoRA target module(s) {', '.join(missing)} not found in {type(model).__name__}; "
            f"it has e.g. {', '.join(sorted(known)[:12])}"
        )


def lora_config(spec: RunSpec) -> Any:
    """PEFT's LoraConfig for the run, or None for a full fine-tune or a continued adapter."""
    if spec.preset == "full" or spec.init_adapter:
        return None
    from peft import LoraConfig

    targets: str | list[str] = list(spec.lora.targets)
    if spec.lora.targets == ("all-linear",):
        targets = "all-linear"
    return LoraConfig(
        r=spec.lora.rank,
        lora_alpha=spec.lora.alpha,  # type: ignore[arg-type]  # PEFT scales by alpha / r: a float works
        lora_dropout=spec.lora.dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )


def load_tokenizer(spec: RunSpec) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.base_model)
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot load the tokenizer of {spec.base_model}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise RunError(
            f"the tokenizer of {spec.base_model} has no chat template: the snapshot's "
            "conversations cannot be rendered (use an instruct model or add a template)"
        )
    return tokenizer


def merge_adapter(spec: RunSpec, adapter_dir: str, merged_dir: str, where: Placement) -> None:
    """Fold the adapter into a 16-bit (fp32 on CPU) copy of the base model and save it."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(spec.base_model, dtype=where.dtype)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(merged_dir)
