"""GPU-memory estimate for a training run, from the model's config alone (pure arithmetic).

The formula, in bytes, for a decoder of ``L`` layers, hidden size ``h``, MLP size ``i``, ``a``
attention heads of which ``kv`` for keys/values (head size ``d = h / a``), vocabulary ``V``,
sequence length ``s`` and micro-batch ``b``:

**Parameters.** Per layer, the linear weights are ``q, o: h*h``, ``k, v: h*kv*d`` and the gated
MLP ``gate, up, down: h*i`` each; the embeddings ``V*h``, the LM head ``V*h`` (unless tied),
RMSNorm weights ``(2L + 1)*h``. (LLaMA-7B: 6.74e9; LLaMA-65B: 65.3e9.)

**Base weights.**
- ``qlora``: linear weights in NF4 with double quantisation: 4 bits + 8 bits of quantised absmax
  per block of 64 + 32 bits per 256 blocks = 4.127 bits (0.516 bytes) per weight. Embeddings,
  LM head and norms stay unquantised and PEFT's ``prepare_model_for_kbit_training`` holds them in
  fp32: 4 bytes.
- ``lora`` and ``full``: every weight in bf16, 2 bytes.

**Trainable state.** LoRA adds ``r * (in + out)`` parameters per targeted module per layer.
- ``qlora``: adapter weights and gradients in bf16 (TRL casts QLoRA adapters to bf16), 2 + 2.
- ``lora``: adapter weights and gradients in fp32 (PEFT's default), 4 + 4.
- ``full``: bf16 gradients for every weight, 2.
- Optimizer state per trainable parameter: AdamW 32-bit 8 bytes (two fp32 moments; 4 for a
  full fine-tune, whose moments follow the bf16 weights), 8-bit AdamW (bitsandbytes, paged or not)
  2, SGD 0 (4 with momentum), Adafactor 4 (an upper bound), GaLore: Adam moments on rank-128
  projections, ``8 * 128 / h`` of the 32-bit cost, plus the fp32 projection.

**Activations, with gradient checkpointing.** The input of every layer is kept,
``L * s * b * h * 2``, and one layer at a time is recomputed in backward:
``s * b * (16 h + 8 i)`` (inputs of the norms, q/k/v/o, the MLP's gate, up, activation and
product in bf16; attention scores are not stored by SDPA/flash attention). Without checkpointing
all ``L`` layers are kept. The logits cost ``s * b * V * 10`` (bf16 logits, their fp32 copy for
the loss and its gradient).

**Overhead.** 0.75 GiB: the CUDA context and allocator slack.

The plain answer names the smallest common card the total fits: consumer sizes (8, 12, 16,
24 GB) as "fits a 24 GB GPU", data-centre sizes (40, 48, 80, 141 GB) as "needs ≥ 48 GB".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

GIB = 2**30
NF4_BYTES = (4 + 8 / 64 + 32 / (64 * 256)) / 8
OVERHEAD_BYTES = int(0.75 * GIB)
GALORE_RANK = 128
CONSUMER_GB = (8, 12, 16, 24)
DATACENTRE_GB = (40, 48, 80, 141)
LLAMA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class ModelConfigError(ValueError):
    """The model config lacks what the estimate needs."""


@dataclass(frozen=True)
class ModelShape:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelShape:
        """From a Hugging Face ``config.json`` (LLaMA-family keys, GPT-2 names as fallback)."""

        def first(*names: str, default: Any = None) -> Any:
            for name in names:
                if config.get(name) is not None:
                    return config[name]
            if default is None:
                raise ModelConfigError(f"model config has none of {', '.join(names)}")
            return default

        config = config.get("text_config") or config
        hidden = int(first("hidden_size", "n_embd", "d_model"))
        heads = int(first("num_attention_heads", "n_head"))
        return cls(
            hidden=hidden,
            intermediate=int(first("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden)),
            layers=int(first("num_hidden_layers", "n_layer", "num_layers")),
            heads=heads,
            kv_heads=int(first("num_key_value_heads", default=heads)),
            head_dim=int(first("head_dim", default=hidden // heads)),
            vocab=int(first("vocab_size")),
            tied=bool(config.get("tie_word_embeddings", False)),
        )

    def linear_modules(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear module of one layer."""
        h, i = self.hidden, self.intermediate
        q_out, kv_out = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {
            "q_proj": (h, q_out),
            "k_proj": (h, kv_out),
            "v_proj": (h, kv_out),
            "o_proj": (q_out, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    def linear_params(self) -> int:
        return self.layers * sum(a * b for a, b in self.linear_modules().values())

    def other_params(self) -> int:
        """Embeddings, LM head and norms: what 4-bit quantisation leaves alone."""
        head = 0 if self.tied else self.vocab * self.hidden
        return self.vocab * self.hidden + head + (2 * self.layers + 1) * self.hidden

    def params(self) -> int:
        return self.linear_params() + self.other_params()

    def lora_params(self, rank: int, targets: tuple[str, ...]) -> int:
        modules = self.linear_modules()
        chosen = (
            modules
            if targets == ("all-linear",)
            else {t: modules[t] for t in targets if t in modules}
        )
        return self.layers * sum(rank * (a + b) for a, b in chosen.values())


def optimizer_bytes(optimizer: str, full: bool) -> float:
    """Optimizer state bytes per trainable parameter (see the module docstring)."""
    name = optimizer.lower()
    if "8bit" in name:
        return 2
    if name.startswith("sgd"):
        return 0
    if name.startswith("adafactor"):
        return 4
    return 4 if full else 8


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    trainable_params: int
    trainable_state: int
    optimizer_state: int
    activations: int
    logits: int
    overhead: int

    @property
    def total(self) -> int:
        return (
            self.weights
            + self.trainable_state
            + self.optimizer_state
            + self.activations
            + self.logits
            + self.overhead
        )

    @property
    def total_gib(self) -> float:
        return self.total / GIB

    @property
    def answer(self) -> str:
        gib = self.total_gib
        for size in CONSUMER_GB:
            if gib <= size:
                return f"fits a {size} GB GPU"
        for size in DATACENTRE_GB:
            if gib <= size:
                return f"needs ≥ {size} GB"
        return f"needs ≥ {math.ceil(gib)} GB: more than one GPU (DeepSpeed ZeRO-3)"

    def breakdown_gib(self) -> dict[str, float]:
        parts = {
            "weights": self.weights,
            "trainable": self.trainable_state,
            "optimizer": self.optimizer_state,
            "activations": self.activations,
            "logits": self.logits,
            "overhead": self.overhead,
            "total": self.total,
        }
        return {name: round(value / GIB, 2) for name, value in parts.items()}


def estimate(
    shape: ModelShape,
    *,
    preset: str = "qlora",
    rank: int = 16,
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj"),
    sequence_len: int = 4096,
    micro_batch: int = 2,
    optimizer: str = "paged_adamw_8bit",
    gradient_checkpointing: bool = True,
) -> MemoryEstimate:
    """Peak GPU memory of one training step of a run on one GPU."""
    if preset not in ("qlora", "lora", "full"):
        raise ValueError(f"unknown preset {preset}")
    full = preset == "full"
    if preset == "qlora":
        weights = shape.linear_params() * NF4_BYTES + shape.other_params() * 4
    else:
        weights = shape.params() * 2
    if full:
        trainable = shape.params()
        trainable_state = trainable * 2
        if optimizer.lower().startswith("galore"):
            projected = shape.linear_params() * 8 * GALORE_RANK / shape.hidden
            projections = shape.layers * len(LLAMA_MODULES) * GALORE_RANK * shape.hidden * 4
            optimizer_state = projected + projections + shape.other_params() * 4
        else:
            optimizer_state = trainable * optimizer_bytes(optimizer, full=True)
    else:
        trainable = shape.lora_params(rank, targets)
        trainable_state = trainable * (4 if preset == "qlora" else 8)
        optimizer_state = trainable * optimizer_bytes(optimizer, full=False)
    tokens = sequence_len * micro_batch
    layer = tokens * (16 * shape.hidden + 8 * shape.intermediate)
    if gradient_checkpointing:
        activations = shape.layers * tokens * shape.hidden * 2 + layer
    else:
        activations = shape.layers * layer
    logits = tokens * shape.vocab * 10
    return MemoryEstimate(
        weights=int(weights),
        trainable_params=int(trainable),
        trainable_state=int(trainable_state),
        optimizer_state=int(optimizer_state),
        activations=int(activations),
        logits=int(logits),
        overhead=OVERHEAD_BYTES,
    )
