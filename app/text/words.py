"""Text normalisation shared by every lexical check.

Words are runs of Unicode word characters after NFKC normalisation and case folding, so case,
punctuation, whitespace and full-width or ligature forms do not hide a copy.  ``words_with_spans``
gives the same words with their character offsets in the original text, for highlighting.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """NFKC + case folding (a plain lower() for ASCII, which is the same and much faster)."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return _WORD.findall(fold(text))


def words_with_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The normalised words of ``text`` and each word's (start, end) offsets in ``text``.

    Tokenises the original text and folds word by word, so offsets stay true even where NFKC
    changes lengths; the words equal :func:`words` except in rare cases where NFKC joins or
    splits word characters across a boundary.
    """
    found: list[str] = []
    spans: list[tuple[int, int]] = []
    ascii_text = text.isascii()
    for match in _WORD.finditer(text):
        word = match.group()
        if ascii_text:
            found.append(word.lower())
            spans.append(match.span())
            continue
        for part in _WORD.findall(unicodedata.normalize("NFKC", word).casefold()):
            found.append(part)
            spans.append(match.span())
    return found, spans
