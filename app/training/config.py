"""A training run's configuration: presets, validation with clear messages, the runner's JSON.

Pure: no database, no web. ``RunConfig.to_runner_config`` writes exactly the ``config.json``
that ``app.training.runner`` reads (``app/training/runner/spec.py``), so the two cannot drift
without a test failing. ``check_model`` reads the base model's config when it is a local
directory and checks the LoRA targets against the modules of its skeleton (built on the meta
device: no weights are read, no memory is used).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.errors import Invalid
from app.training.memory import LLAMA_MODULES, MemoryEstimate, ModelShape, estimate

Method = Literal["sft", "dpo"]
Preset = Literal["qlora", "lora", "full"]

QLORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
LORA_OPTIMIZERS = (
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "adamw_8bit",
    "adamw_torch",
    "adamw_torch_fused",
    "adafactor",
    "sgd",
)
GALORE_OPTIMIZERS = ("galore_adamw", "galore_adamw_8bit", "galore_adafactor")
OPTIMIZERS = LORA_OPTIMIZERS + GALORE_OPTIMIZERS
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")

#: What each preset changes from the QLoRA defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "qlora": {},
    "lora": {"optimizer": "adamw_torch"},
    "full": {"optimizer": "adamw_torch", "learning_rate": 2e-5, "epochs": 2},
}


class RunConfig(BaseModel):
    """Every field of a run, with the standard QLoRA start as defaults."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    method: Method = "sft"
    base_model: str = Field(min_length=1)
    preset: Preset = "qlora"
    lora_rank: int = Field(
        16, gt=0, description="any positive integer; a power of two is not required"
    )
    lora_alpha: float = Field(32.0, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: list[str] = Field(default_factory=lambda: list(QLORA_TARGETS), min_length=1)
    learning_rate: float = Field(2e-4, gt=0, le=1)
    epochs: float = Field(3.0, gt=0)
    max_steps: int = -1
    sequence_len: int = Field(4096, gt=0, le=1_048_576)
    micro_batch: int = Field(2, gt=0)
    grad_accum: int = Field(4, gt=0)
    optimizer: str = "paged_adamw_8bit"
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    gradient_checkpointing: bool = True
    assistant_only_loss: bool = False
    dpo_beta: float = Field(0.1, gt=0)
    init_adapter: str | None = None
    merge: bool = False
    seed: int = 42
    eval_fraction: float = Field(0.0, ge=0, lt=1)
    eval_steps: int | None = Field(None, gt=0)
    num_gpus: int = Field(1, ge=1, le=64)
    zero_stage: Literal[2, 3] | None = None

    @classmethod
    def for_preset(cls, preset: Preset, **fields: Any) -> RunConfig:
        """The defaults of ``preset`` under the given fields."""
        return cls(preset=preset, **{**PRESETS[preset], **fields})

    @field_validator("lora_targets")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        cleaned = [t.strip() for t in value if t.strip()]
        if not cleaned:
            raise ValueError("name at least one module, e.g. q_proj, or all-linear")
        if "all-linear" in cleaned and len(cleaned) > 1:
            raise ValueError("all-linear stands alone")
        return cleaned

    @field_validator("max_steps")
    @classmethod
    def _max_steps(cls, value: int) -> int:
        if value != -1 and value <= 0:
            raise ValueError("max_steps is a positive number of steps, or -1 for none")
        return value

    @field_validator("optimizer")
    @classmethod
    def _optimizer(cls, value: str) -> str:
        if value not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {value!r}; choose one of {', '.join(OPTIMIZERS)}")
        return value

    @field_validator("lr_scheduler")
    @classmethod
    def _scheduler(cls, value: str) -> str:
        if value not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {value!r}; choose one of {', '.join(SCHEDULERS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if self.optimizer in GALORE_OPTIMIZERS and self.preset != "full":
            raise ValueError(
                "GaLore optimizers project full-rank gradients: use them with the full preset"
            )
        if self.init_adapter and self.preset == "full":
            raise ValueError("init_adapter continues a LoRA adapter: not with the full preset")
        if self.merge and self.preset == "full":
            raise ValueError("merge folds an adapter into the base: a full fine-tune has none")
        if self.zero_stage is not None and self.num_gpus < 2:
            raise ValueError("DeepSpeed ZeRO needs num_gpus of 2 or more")
        return self

    @property
    def effective_batch(self) -> int:
        return self.micro_batch * self.grad_accum * self.num_gpus

    def to_runner_config(self, data_files: list[dict[str, str]]) -> dict[str, Any]:
        """``config.json`` for the runner; ``data_files``: ``{"path", "sha256", "split"}`` each."""
        data = self.model_dump(exclude={"lora_rank", "lora_alpha", "lora_dropout", "lora_targets"})
        data["lora"] = {
            "rank": self.lora_rank,
            "alpha": self.lora_alpha,
            "dropout": self.lora_dropout,
            "targets": list(self.lora_targets),
        }
        data["data_files"] = [dict(entry) for entry in data_files]
        return data

    def memory(self, model_config: dict[str, Any]) -> MemoryEstimate:
        return estimate(
            ModelShape.from_config(model_config),
            preset=self.preset,
            rank=self.lora_rank,
            targets=tuple(self.lora_targets),
            sequence_len=self.sequence_len,
            micro_batch=self.micro_batch,
            optimizer=self.optimizer,
            gradient_checkpointing=self.gradient_checkpointing,
        )


def read_model_config(base_model: str) -> dict[str, Any] | None:
    """The base model's ``config.json`` when it is a readable local directory, else None."""
    path = Path(base_model) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def module_names(model_config: dict[str, Any]) -> set[str]:
    """Module name suffixes of the model, from its skeleton on the meta device.

    Falls back to the LLaMA-family names when transformers cannot build the architecture.
    """
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.for_model(**model_config)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
    except Exception:  # an architecture this transformers does not know: use the common names
        return set(LLAMA_MODULES)
    return {name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name}


def check_model(config: RunConfig, model_config: dict[str, Any] | None = None) -> None:
    """Check the LoRA targets against the model's modules when its config is readable."""
    if config.preset == "full" or config.lora_targets == ["all-linear"]:
        return
    model_config = model_config or read_model_config(config.base_model)
    if model_config is None:
        return
    names = module_names(model_config)
    missing = [t for t in config.lora_targets if t not in names]
    if missing:
        linear = sorted(n for n in names if n.endswith("proj") or n in ("fc1", "fc2", "c_attn"))
        raise Invalid(
            f"lora_targets: {', '.join(missing)} not found in {config.base_model}; "
            f"its modules include {', '.join(linear[:12]) or ', '.join(sorted(names)[:12])}",
            details={"field": "lora_targets", "missing": missing},
        )
