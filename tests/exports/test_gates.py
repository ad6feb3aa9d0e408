"""Quality gates: pass / warn / block per gate."""

from __future__ import annotations

from typing import Any

from app.exports.gates import MAX_ITEMS, GateChecker, GateResult, GateStatus

SYSTEM = "You are terse."
LONG_CUT = "word " * 60 + "and then the answer continues with"  # > 200 chars, no punctuation


def msgs(answer: str = "Fine.", system: str | None = SYSTEM) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if system is not None:
        out.append({"role": "system", "content": system})
    out += [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": answer}]
    return out


def checker(**over: Any) -> GateChecker:
    kwargs: dict[str, Any] = {"project_system_prompt": SYSTEM, "sequence_len": 100}
    kwargs.update(over)
    return GateChecker(**kwargs)


def add(gc: GateChecker, item_id: int, **over: Any) -> None:
    kwargs: dict[str, Any] = {
        "item_id": item_id,
        "kind": "example",
        "messages": msgs(),
        "source": "human",
        "template": "chatml",
        "token_count": 10,
        "content_hash": f"h{item_id}",
    }
    kwargs.update(over)
    gc.add(**kwargs)


def gate(gc: GateChecker, name: str) -> GateResult:
    return {r.name: r for r in gc.results()}[name]


def test_all_pass_on_clean_rows() -> None:
    gc = checker()
    for i in range(5):
        add(gc, i)
    results = gc.results()
    assert [r.name for r in results] == [
        "one_template",
        "system_prompt",
        "contamination",
        "real_data",
        "token_length",
        "empty_assistant",
        "truncated_assistant",
        "duplicates",
    ]
    for r in results:
        expected = GateStatus.not_checked if r.name == "contamination" else GateStatus.passed
        assert r.status == expected, r
        assert r.items == []
    assert gate(gc, "contamination").summary == "contamination not checked"


def test_status_values() -> None:
    assert [s.value for s in GateStatus] == ["pass", "warn", "block", "not_checked"]


def test_one_template_blocks_on_mixed_templates() -> None:
    gc = checker()
    add(gc, 1, template="chatml")
    add(gc, 2, template="llama3")
    add(gc, 3, template="chatml")
    result = gate(gc, "one_template")
    assert result.status == GateStatus.block
    assert result.items == [2]
    assert "llama3" in result.summary


def test_system_prompt_gate() -> None:
    gc = checker()
    add(gc, 1)
    add(gc, 2, messages=msgs(system=None))
    add(gc, 3, messages=msgs(system="You are verbose."))
    result = gate(gc, "system_prompt")
    assert result.status == GateStatus.warn
    assert result.items == [2, 3]

    no_prompt = checker(project_system_prompt="")
    add(no_prompt, 1, messages=msgs(system=None))
    assert gate(no_prompt, "system_prompt").status == GateStatus.passed


def test_contamination_passed_in() -> None:
    given = GateResult("contamination", GateStatus.block, "3 rows in eval set", [1, 2, 3])
    gc = checker(contamination=given)
    add(gc, 1)
    assert gate(gc, "contamination") == given


def test_real_data_gate() -> None:
    gc = checker(min_real_share=0.5)
    add(gc, 1, source="human")
    add(gc, 2, source="imported")
    add(gc, 3, source="synthetic")
    assert gate(gc, "real_data").status == GateStatus.passed

    gc = checker(min_real_share=0.5)
    add(gc, 1, source="human")
    add(gc, 2, source="synthetic")
    add(gc, 3, source="synthetic")
    result = gate(gc, "real_data")
    assert result.status == GateStatus.warn
    assert "33%" in result.summary

    assert gate(checker(), "real_data").status == GateStatus.not_checked


def test_token_length_gate() -> None:
    gc = checker(sequence_len=100)
    add(gc, 1, token_count=100)
    add(gc, 2, token_count=101)
    result = gate(gc, "token_length")
    assert result.status == GateStatus.warn
    assert result.items == [2]

    gc = checker(sequence_len=100)
    add(gc, 1, token_count=150)
    add(gc, 2, token_count=101)
    assert gate(gc, "token_length").status == GateStatus.block


def test_empty_assistant_gate() -> None:
    gc = checker()
    add(gc, 1)
    add(gc, 2, messages=msgs(answer="   \n"))
    add(gc, 3, messages=[*msgs(), {"role": "user", "content": "and?"}])  # SFT ends with user
    add(gc, 4, messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "x"}])
    tool_call = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    add(gc, 5, messages=[*msgs()[:2], tool_call])  # a final tool call is not empty
    add(gc, 6, kind="pair", messages=msgs(answer=""))
    result = gate(gc, "empty_assistant")
    assert result.status == GateStatus.block
    assert result.items == [2, 3, 4, 6]

    gc = checker()
    add(gc, 1, kind="pair", messages=msgs())
    assert gate(gc, "empty_assistant").status == GateStatus.passed


def test_truncated_assistant_gate() -> None:
    gc = checker()
    add(gc, 1, messages=msgs(answer=LONG_CUT))
    add(gc, 2, messages=msgs(answer=LONG_CUT + "."))
    add(gc, 3, messages=msgs(answer=LONG_CUT + "\n```python\nprint(1)\n```\n"))
    add(gc, 4, messages=msgs(answer="short and unpunctuated"))
    result = gate(gc, "truncated_assistant")
    assert result.status == GateStatus.warn
    assert result.items == [1]


def test_duplicates_gate() -> None:
    gc = checker()
    add(gc, 1, content_hash="a")
    add(gc, 2, content_hash="b")
    add(gc, 3, content_hash="a")
    add(gc, 4, content_hash="a")
    result = gate(gc, "duplicates")
    assert result.status == GateStatus.warn
    assert result.items == [3, 4]


def test_items_are_capped_but_counted() -> None:
    gc = checker(sequence_len=10)
    add(gc, 0, token_count=1)
    for i in range(1, 251):
        add(gc, i, token_count=11)
    result = gate(gc, "token_length")
    assert result.status == GateStatus.warn
    assert len(result.items) == MAX_ITEMS
    assert result.items[0] == 1
    assert "250 rows" in result.summary
