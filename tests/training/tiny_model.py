"""A tiny random causal LM saved to a directory, for training tests and benchmarks.

Nothing is downloaded: the model is a 2-layer Llama (hidden 64) built from a config with random
weights, and the tokenizer is a byte-level BPE trained on the fly with ``tokenizers`` on the
corpus the tests train on, wrapped as a ``PreTrainedTokenizerFast`` with a ChatML-like chat
template (with ``{% generation %}`` markers, so TRL's ``assistant_only_loss`` works too).

Shared by the runner tests and the backend tests::

    from tests.training.tiny_model import build_tiny_model, sft_rows, dpo_rows
    model_dir = build_tiny_model(tmp_path / "model")
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<pad>", "<s>", "<|im_start|>", "<|im_end|>"]

#: Facts a 2-layer model memorises in a few dozen steps (short, repetitive, distinct answers).
FACTS: list[tuple[str, str]] = [
    ("What colour is the sky?", "The sky is blue."),
    ("What colour is grass?", "Grass is green."),
    ("What is two plus two?", "Two plus two is four."),
    ("Name a fruit.", "An apple is a fruit."),
    ("What do cats say?", "Cats say meow."),
    ("What do dogs say?", "Dogs say woof."),
    ("Where is Paris?", "Paris is in France."),
    ("What is ice?", "Ice is frozen water."),
]

WRONG: dict[str, str] = {
    "What colour is the sky?": "The sky is green.",
    "What colour is grass?": "Grass is purple.",
    "What is two plus two?": "Two plus two is five.",
    "Name a fruit.": "A chair is a fruit.",
    "What do cats say?": "Cats say woof.",
    "What do dogs say?": "Dogs say meow.",
    "Where is Paris?": "Paris is in Spain.",
    "What is ice?": "Ice is hot sand.",
}


def sft_rows(repeat: int = 1) -> list[dict[str, Any]]:
    """Conversations in TRL's messages format, ``repeat`` copies of each fact."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }
        for question, answer in FACTS
    ]
    return rows * repeat


def dpo_rows(repeat: int = 1) -> list[dict[str, Any]]:
    """Preference pairs in TRL's conversational preference format."""
    rows = [
        {
            "prompt": [{"role": "user", "content": question}],
            "chosen": [{"role": "assistant", "content": answer}],
            "rejected": [{"role": "assistant", "content": WRONG[question]}],
        }
        for question, answer in FACTS
    ]
    return rows * repeat


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def _corpus() -> list[str]:
    texts = [f"{q} {a}" for q, a in FACTS] + list(WRONG.values())
    texts += ["user assistant system", "The quick brown fox jumps over the lazy dog."]
    return texts * 4


def build_tokenizer(vocab_size: int = 384) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on the test corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    directory: Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
    initializer_range: float = 0.15,
) -> Path:
    """Save a random Llama (``num_layers`` x ``hidden_size``) and its tokenizer to ``directory``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def write_run_dir(
    run_dir: Path,
    model_dir: Path,
    *,
    method: str = "sft",
    rows: list[dict[str, Any]] | None = None,
    eval_rows: list[dict[str, Any]] | None = None,
    **config: Any,
) -> Path:
    """A run directory as the runner expects it: ``data/*.jsonl`` and ``config.json``.

    Defaults suit a few fast CPU steps on the tiny model; ``config`` overrides any field.
    """
    import hashlib

    if rows is None:
        rows = sft_rows() if method == "sft" else dpo_rows()
    files = [("data/train.jsonl", rows, "train")]
    if eval_rows:
        files.append(("data/eval.jsonl", eval_rows, "eval"))
    data_files = []
    for relative, content, split in files:
        path = write_jsonl(run_dir / relative, content)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        data_files.append({"path": relative, "sha256": digest, "split": split})
    settings: dict[str, Any] = {
        "method": method,
        "base_model": str(model_dir),
        "data_files": data_files,
        "preset": "qlora",
        "lora": {
            "rank": 16,
            "alpha": 32,
            "dropout": 0.0,
            "targets": ["q_proj", "k_proj", "v_proj", "o_proj"],
        },
        "learning_rate": 1e-2,
        "epochs": 1,
        "max_steps": 30,
        "sequence_len": 64,
        "micro_batch": 4,
        "grad_accum": 1,
        "optimizer": "adamw_torch",
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "gradient_checkpointing": False,
        "seed": 0,
    }
    settings.update(config)
    (run_dir / "config.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return run_dir
