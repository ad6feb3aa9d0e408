"""app.exports.tokens: the ~4 chars/token estimate and exact counts from a tokenizer.json."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from app.exports.tokens import EstimatedCounter, TokenCounter, TokenizerFileCounter, counter_for


@pytest.fixture
def tokenizer_file(tmp_path: Path) -> Path:
    vocab = {"[UNK]": 0, "<s>": 1, "</s>": 2, "hello": 3, "world": 4, "!": 5}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(["<s>", "</s>"])
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100), ("你好世界", 1)],
)
def test_estimate_is_ceil_of_chars_over_four(text: str, expected: int):
    counter = EstimatedCounter()
    assert counter.name == "estimate"
    assert counter.count(text) == expected


def test_estimate_ratio_is_configurable():
    assert EstimatedCounter(chars_per_token=2).count("abcde") == 3
    with pytest.raises(ValueError, match="positive"):
        EstimatedCounter(chars_per_token=0)


def test_tokenizer_file_counts_exact_tokens(tokenizer_file: Path):
    counter = TokenizerFileCounter(tokenizer_file)
    assert counter.name == "tokenizer:tokenizer.json"
    assert counter.count("") == 0
    assert counter.count("hello world!") == 3
    assert counter.count("hello unknown words") == 3  # unknown words are [UNK] tokens
    # special tokens in the (rendered) text count once each; none are added on top
    assert counter.count("<s>hello</s>") == 3


def test_tokenizer_file_counter_accepts_a_directory(tokenizer_file: Path):
    assert TokenizerFileCounter(tokenizer_file.parent).count("hello world") == 2


def test_tokenizer_file_counter_bad_file(tmp_path: Path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not a tokenizer", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot load the tokenizer"):
        TokenizerFileCounter(bad)
    with pytest.raises(ValueError, match="cannot load the tokenizer"):
        TokenizerFileCounter(tmp_path / "missing.json")


def test_counter_for(tokenizer_file: Path):
    estimate = counter_for(None)
    assert isinstance(estimate, EstimatedCounter)
    exact = counter_for(tokenizer_file)
    assert isinstance(exact, TokenizerFileCounter)
    for counter in (estimate, exact):
        assert isinstance(counter, TokenCounter)
    assert exact.count("hello world") == 2
    assert estimate.count("hello world") == 3
