"""Local generation with transformers: a model directory, an optional PEFT adapter applied at
run time, batches with left padding, greedy decoding by default."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.evaluation.generation.base import Generation, Prompt


class _FirstTokenClock:
    """A stopping criterion that never stops, only notes when the first new token exists."""

    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        if self.first is None:
            self.first = time.perf_counter()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class TransformersBackend:
    name = "transformers"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        adapter_dir: str | Path | None = None,
        merge_adapter: bool = False,
        batch_size: int = 16,
        device: str | None = None,
        dtype: str = "auto",
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        """Load ``model_dir`` (or take an already loaded ``model``/``tokenizer``).

        With ``adapter_dir`` the adapter is applied at run time; ``merge_adapter`` folds it into
        the base weights first (the "merged model" under test: same outputs, no adapter cost).
        """
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(model_dir))
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if model is None:
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
            if adapter_dir is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(adapter_dir))
                if merge_adapter:
                    model = model.merge_and_unload()
            model.to(self.device)
        self.model = model.eval()

    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        rendered = self.tokenizer.apply_chat_template(
            [dict(message) for message in prompt], tokenize=False, add_generation_prompt=True
        )
        return str(rendered)

    def generate(
        self, prompts: Sequence[Prompt], max_new_tokens: int, greedy: bool = True
    ) -> list[Generation]:
        outputs: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = [self.render(p) for p in prompts[start : start + self.batch_size]]
            outputs.extend(self._generate_batch(batch, max_new_tokens, greedy))
        return outputs

    def _generate_batch(
        self, texts: list[str], max_new_tokens: int, greedy: bool
    ) -> list[Generation]:
        import torch
        from transformers import StoppingCriteriaList

        encoded = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.device)
        clock = _FirstTokenClock()
        sampling: dict[str, Any] = {"do_sample": False} if greedy else {"do_sample": True}
        started = time.perf_counter()
        with torch.inference_mode():
            sequences = self.model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([clock]),
                **sampling,
            )
        seconds = time.perf_counter() - started
        ttft = (clock.first - started) if clock.first is not None else None
        new = sequences[:, encoded["input_ids"].shape[1] :]
        results = []
        for row in new:
            count = _count_until_eos(row.tolist(), self.tokenizer)
            text = str(self.tokenizer.decode(row[:count], skip_special_tokens=True))
            results.append(Generation(text, count, seconds, ttft))
        return results

    def option_logprobs(self, prompt: Prompt, options: Sequence[str]) -> list[float]:
        """Sum of log-probabilities of each option's tokens after the rendered prompt."""
        import torch

        context = self.render(prompt)
        context_ids = self.tokenizer(context, add_special_tokens=False)["input_ids"]
        scores = []
        for option in options:
            full = self.tokenizer(context + option, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([full], device=self.device)
            with torch.inference_mode():
                logits = self.model(input_ids=ids).logits[0].float()
            logprobs = torch.log_softmax(logits[:-1], dim=-1)
            targets = ids[0, 1:]
            picked = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
            scores.append(float(picked[len(context_ids) - 1 :].sum()))
        return scores


def _count_until_eos(ids: list[int], tokenizer: Any) -> int:
    """New tokens up to and including the first end-of-sequence (padding after it is not work)."""
    stops = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    for index, token in enumerate(ids):
        if token in stops:
            return index + 1 if token == tokenizer.eos_token_id else index
    return len(ids)
