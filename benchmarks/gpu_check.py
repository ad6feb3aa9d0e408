"""QLoRA NF4 SFT through the real runner on a randomly initialised ~1.1B Llama (TinyLlama's
architecture: hidden 2048, MLP 5632, 22 layers, 32 heads, 4 KV heads, vocabulary 32000), with a
BPE tokenizer trained on the fly and synthetic conversations that fill the sequence length.
Nothing is downloaded. Prints steps/s, tokens/s and peak GPU memory beside the estimate of
``app.training.memory`` for the same settings. Run through ``benchmarks/gpu_check.sh``.

    python benchmarks/gpu_check.py [--steps 50] [--sequence-len 2048] [--micro-batch 2]
    python benchmarks/gpu_check.py --size tiny --steps 3 --allow-cpu   # the script's own smoke test
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.training.memory import GIB, ModelShape, estimate  # noqa: E402

SIZES: dict[str, dict[str, Any]] = {
    "1b": {
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 22,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "vocab_size": 32000,
    },
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 2000,
    },
}
WORDS = [
    "model",
    "data",
    "train",
    "loss",
    "token",
    "gradient",
    "adapter",
    "layer",
    "weight",
    "batch",
    "sequence",
    "memory",
    "kernel",
    "matrix",
    "vector",
    "attention",
    "query",
    "key",
    "value",
    "norm",
    "residual",
    "embedding",
    "optimizer",
    "step",
    "epoch",
    "learning",
    "rate",
    "warmup",
    "cosine",
    "schedule",
    "quantised",
    "double",
    "precision",
    "bfloat",
    "float",
    "compute",
    "curate",
    "label",
    "review",
    "export",
    "snapshot",
    "manifest",
    "pair",
    "chosen",
    "rejected",
    "prompt",
    "answer",
]


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def build_model(directory: Path, size: str, device: str) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    sys.path.insert(0, str(ROOT))
    from tests.training.tiny_model import CHAT_TEMPLATE, SPECIAL_TOKENS

    rng = random.Random(0)
    corpus = [_sentence(rng, 40) for _ in range(2000)]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(
        corpus,
        trainer=trainers.BpeTrainer(
            vocab_size=1000,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    shape = SIZES[size]
    config = LlamaConfig(
        **shape,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    started = time.perf_counter()
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)  # type: ignore[arg-type]
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    params = sum(p.numel() for p in model.parameters())
    del model
    print(
        f"random model: {params / 1e9:.3f}B parameters, "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    return shape


def write_run(run_dir: Path, model_dir: Path, args: argparse.Namespace) -> None:
    rng = random.Random(1)
    rows_needed = args.steps * args.micro_batch * args.grad_accum
    # ~1.3 tokens per word with this tokenizer: answers long enough to fill the sequence length.
    answer_words = args.sequence_len
    data = run_dir / "data" / "train.jsonl"
    data.parent.mkdir(parents=True)
    with data.open("w") as handle:
        for _ in range(rows_needed):
            row = {
                "messages": [
                    {"role": "user", "content": _sentence(rng, 20)},
                    {"role": "assistant", "content": _sentence(rng, answer_words)},
                ]
            }
            handle.write(json.dumps(row) + "\n")
    config = {
        "method": "sft",
        "base_model": str(model_dir),
        "preset": "qlora",
        "data_files": [
            {
                "path": "data/train.jsonl",
                "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
                "split": "train",
            }
        ],
        "max_steps": args.steps,
        "sequence_len": args.sequence_len,
        "micro_batch": args.micro_batch,
        "grad_accum": args.grad_accum,
        "optimizer": "paged_adamw_8bit",
        "gradient_checkpointing": True,
        "logging_steps": 5,
        "seed": 0,
    }
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=sorted(SIZES), default="1b")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--sequence-len", type=int, default=2048)
    parser.add_argument("--micro-batch", type=int, default=2)
    parser.add_argument("--grad-accum", type=int, default=4)
    parser.add_argument("--allow-cpu", action="store_true", help="smoke-test this script on CPU")
    parser.add_argument("--keep", help="keep the run directory here")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu_check: no CUDA device visible to torch; this check needs a GPU", file=sys.stderr)
        return 2
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        model_dir, run_dir = root / "model", root / "run"
        shape = build_model(model_dir, args.size, device)
        write_run(run_dir, model_dir, args)
        if device == "cuda":
            torch.cuda.empty_cache()
        env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "app.training.runner", str(run_dir)], env=env)
        wall = time.perf_counter() - started
        summary = json.loads((run_dir / "summary.json").read_text())
        if code != 0:
            print(f"gpu_check: the runner failed: {summary.get('error')}", file=sys.stderr)
            return 1
        metrics = [
            json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        ]
    rates = [m["tokens_per_s"] for m in metrics if m["event"] == "train" and m["tokens_per_s"]]
    peaks = [m["peak_memory_mb"] for m in metrics if m["peak_memory_mb"] is not None]
    guess = estimate(
        ModelShape.from_config(shape),
        preset="qlora",
        sequence_len=args.sequence_len,
        micro_batch=args.micro_batch,
        optimizer="paged_adamw_8bit",
    )
    steps_per_s = summary["steps"] / summary["train_runtime_s"]
    print()
    print(
        f"QLoRA NF4 SFT, {args.size}, seq {args.sequence_len} x micro-batch {args.micro_batch} "
        f"x grad-accum {args.grad_accum}, {summary['steps']} steps, device {summary['device']}"
    )
    print(f"runner wall time        {wall:8.1f} s (imports, 4-bit load, training, save)")
    print(f"train runtime           {summary['train_runtime_s']:8.1f} s")
    print(f"steps/s                 {steps_per_s:8.3f}")
    print(f"tokens/s (non-padding)  {sum(rates) / len(rates) if rates else float('nan'):8.0f}")
    print(
        f"loss first -> last      {summary['train_loss_first']:.3f} -> "
        f"{summary['train_loss_last']:.3f}"
    )
    if peaks:
        print(f"peak GPU memory         {max(peaks) / 1024:8.2f} GiB allocated by torch")
    print(
        f"estimate                {guess.total_gib:8.2f} GiB ({guess.answer}); "
        f"without the {guess.overhead / GIB:.2f} GiB CUDA-context allowance "
        f"{(guess.total - guess.overhead) / GIB:.2f} GiB"
    )
    print(f"estimate breakdown      {guess.breakdown_gib()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
