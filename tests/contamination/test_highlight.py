"""The span highlighter: pieces join back to the text; marks are merged, clamped and escaped."""

from __future__ import annotations

from typing import Any

import pytest

from app.contamination.highlight import highlight, merged_spans, segments, to_html


def test_cuts_the_text_into_plain_and_marked_pieces() -> None:
    text = "the quick brown fox"
    pieces = segments(text, [[4, 9], [16, 19]])
    assert pieces == [("the ", False), ("quick", True), (" brown ", False), ("fox", True)]
    assert "".join(p for p, _ in pieces) == text


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], []),
        ([[5, 2]], []),  # reversed: empty
        ([[3, 3]], []),  # empty
        ([[2, 5], [0, 3]], [(0, 5)]),  # unsorted and overlapping
        ([[0, 2], [2, 4]], [(0, 4)]),  # touching
        ([[1, 3], [1, 3]], [(1, 3)]),  # repeated
        ([[-5, 2], [8, 99]], [(0, 2), (8, 10)]),  # clamped to the text
        ([[20, 30]], []),  # wholly past the end
        ([[0, 4], [1, 2]], [(0, 4)]),  # nested
    ],
)
def test_spans_are_clamped_sorted_and_merged(spans: list[Any], expected: list[Any]) -> None:
    assert merged_spans(spans, 10) == expected


@pytest.mark.parametrize(
    "bad",
    [[1], [1, 2, 3], "ab", None, [1.5, 3], ["1", "3"], [True, 3], {"a": 1}],
)
def test_malformed_spans_are_skipped(bad: Any) -> None:
    assert merged_spans([bad, [0, 1]], 10) == [(0, 1)]


def test_whole_text_and_no_text() -> None:
    assert segments("abc", [[0, 3]]) == [("abc", True)]
    assert segments("abc", []) == [("abc", False)]
    assert segments("", [[0, 3]]) == []


def test_html_escapes_every_piece_and_marks_only_the_spans() -> None:
    text = "<script>alert(1)</script> & <b>x</b>"
    start = text.index("alert")
    html = highlight(text, [[start, start + len("alert(1)")]])
    assert str(html) == (
        "&lt;script&gt;<mark>alert(1)</mark>&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;"
    )
    assert "<script>" not in html and "<b>" not in html


def test_a_marked_piece_with_markup_is_escaped_inside_the_mark() -> None:
    html = to_html([("<img src=x onerror=alert(1)>", True), ('"quoted"', False)])
    assert str(html) == "<mark>&lt;img src=x onerror=alert(1)&gt;</mark>&#34;quoted&#34;"
