"""Conversation Markdown: code highlighted on the server, everything else still sanitised."""

from __future__ import annotations

from pathlib import Path

from app.web.markdown import highlight_css, render_markdown, render_turn

ROOT = Path(__file__).resolve().parents[2]


def test_fenced_code_with_a_language_is_highlighted() -> None:
    out = str(render_markdown('```python\nx = "<script>alert(1)</script>"\n```'))
    assert '<code class="language-python">' in out
    assert '<span class="hl-n">x</span>' in out
    assert "&lt;script&gt;" in out and "<script>" not in out


def test_unknown_or_missing_language_is_plain_escaped_code() -> None:
    for fence in ("```\n<b>x</b>\n```", "```no-such-lang\n<b>x</b>\n```"):
        out = str(render_markdown(fence))
        assert "&lt;b&gt;x&lt;/b&gt;" in out and "<span" not in out


def test_spans_and_classes_in_the_text_itself_stay_text() -> None:
    out = str(render_markdown('<span class="hl-k" onclick="x()">hi</span> and `<i>code</i>`'))
    assert "<span" not in out and "<i>" not in out
    assert out.startswith('<p>&lt;span class="hl-k" onclick="x()"&gt;hi&lt;/span&gt;')


def test_the_committed_stylesheet_matches_the_generator() -> None:
    assert (ROOT / "static" / "highlight.css").read_text() == highlight_css()


def test_turns_keep_single_line_breaks_guidelines_stay_commonmark() -> None:
    text = "List the columns:\ndatabase\nUnemployment rate"
    assert (
        str(render_turn(text)) == "<p>List the columns:<br>\ndatabase<br>\nUnemployment rate</p>\n"
    )
    assert "<br>" not in str(render_markdown(text))
    # code blocks are untouched by the soft-break rule
    assert "<br>" not in str(render_turn("```\na\nb\n```"))
