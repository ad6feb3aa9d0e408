"""The memory estimate against the published QLoRA figures, on LLaMA's real config numbers."""

from __future__ import annotations

import pytest

from app.training.memory import GIB, ModelShape, estimate

# LLaMA-7B and LLaMA-65B (Touvron et al. 2023, Table 2; the released config.json files).
LLAMA_7B = {
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "vocab_size": 32000,
}
LLAMA_65B = {
    "hidden_size": 8192,
    "intermediate_size": 22016,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "vocab_size": 32000,
}


def test_parameter_counts_match_the_published_model_sizes() -> None:
    assert ModelShape.from_config(LLAMA_7B).params() == pytest.approx(6.74e9, rel=0.005)
    assert ModelShape.from_config(LLAMA_65B).params() == pytest.approx(65.2e9, rel=0.005)


def test_qlora_65b_fits_one_48_gb_gpu() -> None:
    # Dettmers et al. 2023 (QLoRA): LLaMA-65B fine-tuned on one 48 GB GPU, with LoRA r=64 on every
    # linear layer, paged 32-bit AdamW, gradient checkpointing, batch 1 x 512 tokens (Figure 6).
    result = estimate(
        ModelShape.from_config(LLAMA_65B),
        preset="qlora",
        rank=64,
        targets=("all-linear",),
        sequence_len=512,
        micro_batch=1,
        optimizer="paged_adamw_32bit",
    )
    assert result.answer == "needs ≥ 48 GB"
    assert 48 * 0.8 <= result.total_gib <= 48  # within 20 % of the card it ran on
    assert result.weights / GIB == pytest.approx(33.1, abs=0.5)  # NF4 + double quant


def test_qlora_7b_with_the_default_settings_needs_6_to_10_gb() -> None:
    result = estimate(
        ModelShape.from_config(LLAMA_7B),
        preset="qlora",
        rank=16,
        sequence_len=2048,
        micro_batch=2,
        optimizer="paged_adamw_8bit",
    )
    assert 6 <= result.total_gib <= 10
    assert result.answer in ("fits a 8 GB GPU", "fits a 12 GB GPU")
    assert result.trainable_params == 32 * 4 * 16 * (4096 + 4096)


def test_presets_order_and_the_plain_answers() -> None:
    shape = ModelShape.from_config(LLAMA_7B)
    qlora = estimate(shape, preset="qlora", sequence_len=2048)
    lora = estimate(shape, preset="lora", sequence_len=2048, optimizer="adamw_torch")
    full = estimate(shape, preset="full", sequence_len=2048, optimizer="adamw_torch")
    galore = estimate(shape, preset="full", sequence_len=2048, optimizer="galore_adamw")
    assert qlora.total < lora.total < galore.total < full.total
    assert lora.answer == "fits a 24 GB GPU"
    assert full.answer == "needs ≥ 80 GB"
    huge = estimate(ModelShape.from_config(LLAMA_65B), preset="full", optimizer="adamw_torch")
    assert huge.answer.startswith("needs ≥ ") and "more than one GPU" in huge.answer


def test_checkpointing_and_sequence_length_move_the_activations() -> None:
    shape = ModelShape.from_config(LLAMA_7B)
    short = estimate(shape, sequence_len=1024)
    long = estimate(shape, sequence_len=4096)
    assert long.activations == pytest.approx(4 * short.activations)
    unchecked = estimate(shape, sequence_len=1024, gradient_checkpointing=False)
    assert unchecked.activations > 10 * short.activations


def test_grouped_query_attention_and_tied_embeddings() -> None:
    gqa = ModelShape.from_config(
        {**LLAMA_7B, "num_key_value_heads": 8, "tie_word_embeddings": True}
    )
    dense = ModelShape.from_config(LLAMA_7B)
    assert dense.params() - gqa.params() == 32 * 2 * 4096 * (4096 - 1024) + 32000 * 4096
