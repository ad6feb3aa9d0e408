"""Items scored per second on the tiny model: our evaluation path beside a plain loop of
``model.generate`` + scoring on the same items, in one run (goal: ours >= 90 % of the plain loop).

Both sides share one loaded model and tokenizer, the same chat-rendered prompts, greedy decoding,
the same ``max_new_tokens`` and the same scorer (exact match). "Ours" is ``run_evaluation`` over
the transformers backend, batched with left padding; it is also run with batch size 1, which
shows the runner's own overhead against the plain loop. Rounds alternate, best of each counts.
Then latency, same prompts: tokens/s and time to first token with a LoRA adapter applied on the
fly beside the same adapter merged into the weights.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.eval_bench            # 64 items
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.eval_bench --items 256 --batch 32
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.evaluation.generation.transformers_backend import TransformersBackend
from app.evaluation.runner import EvalItem, run_evaluation
from app.evaluation.scorers.base import ItemScore
from app.evaluation.scorers.exact_match import score_exact_match
from tests.training.tiny_model import build_tiny_model


def make_items(count: int) -> list[EvalItem]:
    return [
        EvalItem(f"i{n}", f"{n % 10} + {n // 10 % 10} =", f"#### {n % 10 + n // 10 % 10}")
        for n in range(count)
    ]


def exact(item: EvalItem, output: str) -> ItemScore:
    return score_exact_match(output, item.reference)


def plain_loop(model: Any, tokenizer: Any, items: list[EvalItem], max_new_tokens: int) -> float:
    import torch

    total = 0.0
    for item in items:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": item.prompt}], tokenize=False, add_generation_prompt=True
        )
        encoded = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        output = tokenizer.decode(out[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        total += exact(item, output).score
    return total


def save_adapter(model_dir: Path, adapter_dir: Path) -> Path:
    """An (untrained) LoRA on the attention and MLP projections: the same compute as a tune."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    get_peft_model(model, LoraConfig(r=16, target_modules=targets)).save_pretrained(
        str(adapter_dir)
    )
    return adapter_dir


def latency(model_dir: Path, items: list[EvalItem], batch: int, tokens: int) -> None:
    adapter_dir = save_adapter(model_dir, model_dir.parent / "adapter")
    for label, merge in (("adapter on the fly", False), ("merged", True)):
        backend = TransformersBackend(model_dir, adapter_dir=adapter_dir, merge_adapter=merge)
        backend.batch_size = batch
        run_evaluation(backend, items[:batch], exact, max_new_tokens=tokens)  # warm-up
        result = run_evaluation(backend, items, exact, max_new_tokens=tokens, chunk_size=batch)
        rate, ttft = result.throughput.tokens_per_s, result.throughput.mean_time_to_first_token
        print(f"{label:>18}: {rate:8.1f} tokens/s, time to first token {(ttft or 0) * 1000:.1f} ms")


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        model_dir = build_tiny_model(Path(directory) / "model")
        batched = TransformersBackend(model_dir, batch_size=args.batch, device="cpu")
        single = TransformersBackend(
            model_dir, batch_size=1, model=batched.model, tokenizer=batched.tokenizer
        )
        items = make_items(args.items)
        tokens = args.max_new_tokens

        def ours(backend: TransformersBackend) -> Callable[[], object]:
            return lambda: run_evaluation(
                backend, items, exact, max_new_tokens=tokens, chunk_size=args.batch * 2
            )

        sides: dict[str, Callable[[], object]] = {
            "plain loop": lambda: plain_loop(batched.model, batched.tokenizer, items, tokens),
            f"ours, batch {args.batch}": ours(batched),
            "ours, batch 1": ours(single),
        }
        ours(batched)()  # warm-up: first-call allocations, not counted
        best = {name: float("inf") for name in sides}
        for round_index in range(args.rounds):
            names = list(sides)
            order = names if round_index % 2 == 0 else names[::-1]
            for name in order:
                best[name] = min(best[name], timed(sides[name]))
        plain_rate = args.items / best["plain loop"]
        print(f"items={args.items} max_new_tokens={tokens} rounds={args.rounds} (best of each)")
        for name, seconds in best.items():
            rate = args.items / seconds
            print(f"{name:>16}: {rate:8.1f} items/s  ({rate / plain_rate:6.1%} of plain loop)")
        latency(model_dir, items, args.batch, tokens)


if __name__ == "__main__":
    main()
