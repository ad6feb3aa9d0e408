"""The readable diff of revision snapshots (pure)."""

from __future__ import annotations

from app.items.diff import Line, Segment, diff_lines, diff_snapshots


def _turns(*contents: str) -> list[dict[str, str]]:
    return [{"role": ("user", "assistant")[i % 2], "content": c} for i, c in enumerate(contents)]


def test_a_changed_turn_is_diffed_by_line_and_word() -> None:
    before = {"messages": _turns("Hi", "The quick brown fox\njumps over\nthe lazy dog")}
    after = {"messages": _turns("Hi", "The slow brown fox\njumps over\nthe lazy dog\nand sleeps")}
    [field] = diff_snapshots(before, after)
    assert field.name == "messages" and field.kind == "conversation"
    first, second = field.turns
    assert (first.op, first.number, first.role) == ("equal", 1, "user")
    assert (second.op, second.number, second.role) == ("change", 2, "assistant")
    assert second.lines == (
        Line(
            "change",
            (
                Segment("equal", "The "),
                Segment("delete", "quick"),
                Segment("insert", "slow"),
                Segment("equal", " brown fox"),
            ),
        ),
        Line("equal", (Segment("equal", "jumps over"),)),
        Line("equal", (Segment("equal", "the lazy dog"),)),
        Line("insert", (Segment("insert", "and sleeps"),)),
    )


def test_added_and_removed_turns_and_role_changes() -> None:
    before = {"messages": [*_turns("Q1", "A1"), {"role": "user", "content": "Q2"}]}
    after = {"messages": [{"role": "system", "content": "Be brief."}, *_turns("Q1", "A1")]}
    [field] = diff_snapshots(before, after)
    ops = [(t.op, t.number, t.role) for t in field.turns]
    assert ops == [
        ("insert", 1, "system"),
        ("equal", 2, "user"),
        ("equal", 3, "assistant"),
        ("delete", 3, "user"),
    ]
    assert field.turns[0].lines == (Line("insert", (Segment("insert", "Be brief."),)),)
    assert field.turns[-1].lines == (Line("delete", (Segment("delete", "Q2"),)),)
    swapped = diff_snapshots(
        {"chosen": [{"role": "user", "content": "same"}]},
        {"chosen": [{"role": "assistant", "content": "same text"}]},
    )
    assert swapped[0].turns[0].role == "user → assistant"


def test_unrelated_lines_read_as_removed_and_added() -> None:
    lines = diff_lines("alpha beta gamma", "completely different words here")
    assert [line.op for line in lines] == ["delete", "insert"]


def test_long_unchanged_runs_collapse_to_a_count() -> None:
    old = "\n".join(f"line {i}" for i in range(20))
    new = old.replace("line 10", "line ten")
    lines = diff_lines(old, new, context=2)
    assert [line.op for line in lines] == [
        "skip",
        "equal",
        "equal",
        "change",
        "equal",
        "equal",
        "skip",
    ]
    assert lines[0].skipped == 8 and lines[-1].skipped == 7


def test_values_and_tags() -> None:
    diffs = diff_snapshots(
        {"status": "submitted", "rating": 3, "tags": ["a", "b"], "messages": _turns("x")},
        {"status": "approved", "rating": None, "tags": ["b", "c"], "messages": _turns("x")},
    )
    by_name = {d.name: d for d in diffs}
    assert list(by_name) == ["status", "rating", "tags"]  # unchanged messages left out
    assert (by_name["status"].before, by_name["status"].after) == ("submitted", "approved")
    assert (by_name["rating"].before, by_name["rating"].after) == ("3", "—")
    assert by_name["tags"].added == ("c",) and by_name["tags"].removed == ("a",)


def test_a_status_only_revision_and_a_creation() -> None:
    assert [d.name for d in diff_snapshots({"status": "a"}, {"status": "b", "comment": "x"})] == [
        "status",
        "comment",
    ]
    created = diff_snapshots(None, {"prompt": _turns("P"), "rating": None})
    assert [d.name for d in created] == ["prompt"]
    assert created[0].turns[0].op == "insert"
    assert diff_snapshots({"rating": 1}, {"rating": 1}) == []
