"""Token counting for export size estimates.

Two counters share the ``TokenCounter`` protocol:

* ``EstimatedCounter`` ("estimate"): no tokenizer at hand, so ``ceil(len(text) / 4)``.  About
  four characters per token is the usual rule of thumb for English prose with modern BPE
  vocabularies (32k-150k entries); it undercounts code, numbers, and non-Latin scripts (CJK
  text is closer to one or two characters per token), so treat it as a rough size, never a
  limit check.
* ``TokenizerFileCounter``: exact counts from a Hugging Face ``tokenizer.json`` file, loaded
  with ``tokenizers.Tokenizer.from_file`` (imported lazily, so the estimate needs nothing).
  Special tokens are not added: count the rendered chat text, which already holds them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["EstimatedCounter", "TokenCounter", "TokenizerFileCounter", "counter_for"]


@runtime_checkable
class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...


class EstimatedCounter:
    """About one token per ``chars_per_token`` characters (default 4), rounded up."""

    name = "estimate"

    def __init__(self, chars_per_token: float = 4.0) -> None:
        if chars_per_token <= 0:
            raise ValueError("chars_per_token must be positive")
        self.chars_per_token = chars_per_token

    def count(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token)


class TokenizerFileCounter:
    """Exact token counts from a ``tokenizer.json`` (a directory holding one also works)."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        from tokenizers import Tokenizer  # lazy: only exact counts need the tokenizers package

        try:
            self._tokenizer: Tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on unreadable/bad files
            raise ValueError(f"{path}: cannot load the tokenizer: {exc}") from exc
        self.path = path
        self.name = f"tokenizer:{path.name}"

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def counter_for(path: Path | None) -> TokenCounter:
    """The exact counter for a tokenizer file, or the estimate when there is none."""
    if path is None:
        return EstimatedCounter()
    return TokenizerFileCounter(path)
