"""A tiny arithmetic set and a LoRA tune of the tiny random Llama that memorises it.

Training is plain torch + PEFT (a few dozen full-batch steps on CPU), so the evaluation tests
do not depend on the training runner; the adapter is saved and applied at run time by the
transformers backend, as a real tune would be.
"""

from __future__ import annotations

from pathlib import Path

from app.evaluation.runner import EvalItem

SYSTEM_PROMPT = "You add numbers. Reply with the sum only."

ARITHMETIC: list[tuple[str, str]] = [
    ("2 + 3 =", "5"),
    ("4 + 4 =", "8"),
    ("1 + 6 =", "7"),
    ("3 + 6 =", "9"),
    ("5 + 7 =", "12"),
    ("8 + 6 =", "14"),
    ("9 + 2 =", "11"),
    ("7 + 9 =", "16"),
]


def arithmetic_items() -> list[EvalItem]:
    return [EvalItem(f"add-{i}", q, f"#### {a}") for i, (q, a) in enumerate(ARITHMETIC)]


def train_adapter(model_dir: Path, adapter_dir: Path, steps: int = 50, seed: int = 0) -> Path:
    """LoRA on every linear layer, loss on the assistant answer, full batch, AdamW."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets))
    rows, masks = [], []
    for question, answer in ARITHMETIC:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
        rows.append(prompt_ids + answer_ids)
        masks.append([0] * len(prompt_ids) + [1] * len(answer_ids))
    width = max(len(row) for row in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows])
    attention = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    labels = input_ids.clone()
    labels[torch.tensor([m + [0] * (width - len(m)) for m in masks]) == 0] = -100
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=5e-3, weight_decay=0.0
    )
    model.train()
    for _ in range(steps):
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.save_pretrained(str(adapter_dir))
    return adapter_dir
