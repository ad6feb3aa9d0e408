"""parse_file end to end, including the facts about the shared sample data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.formats import ExampleRecord, PairRecord, ParsedRow, open_records, parse_file
from tests.factories import SHARED_DATA, alpaca, write_jsonl


def parse_path(path: Path, fmt: str | None = None) -> list[ParsedRow]:
    with open_records(path) as source:
        return list(parse_file(source, fmt))


def test_alpaca_sample() -> None:
    rows = parse_path(SHARED_DATA / "alpaca_5000.json")
    assert len(rows) == 5000
    assert all(row.error is None and isinstance(row.record, ExampleRecord) for row in rows)
    assert [row.number for row in rows] == list(range(1, 5001))
    assert {row.fmt for row in rows} == {"alpaca"}
    examples = [row.record for row in rows if isinstance(row.record, ExampleRecord)]
    assert [n for n, ex in enumerate(examples, 1) if ex.needs_response] == [2336, 4659]
    assert len({ex.content_hash for ex in examples}) == 5000


def test_hh_sample() -> None:
    rows = parse_path(SHARED_DATA / "hh_rlhf_harmless_test.jsonl.gz")
    assert len(rows) == 2312
    bad = [row for row in rows if row.error is not None]
    assert [(e.number, e.unit, e.field, e.message) for e in (row.error for row in bad) if e] == [
        (87, "line", "chosen", "empty response"),
        (517, "line", "chosen", "empty response"),
        (926, "line", "chosen", "empty response"),
        (1104, "line", "chosen", "empty response"),
    ]
    assert all(row.raw is not None and "chosen" in row.raw for row in bad)
    pairs = {row.number: row.record for row in rows if isinstance(row.record, PairRecord)}
    assert len(pairs) == 2308
    multi_turn = {n for n, p in pairs.items() if len(p.chosen) > 1 or len(p.rejected) > 1}
    assert multi_turn == {1255, 1689, 1951, 1953, 2037}
    for number in multi_turn:
        pair = pairs[number]
        assert pair.prompt and pair.prompt[-1]["role"] == "user"
        assert pair.chosen[0] != pair.rejected[0]  # they part right after the shared prompt
    for number, pair in pairs.items():
        if number not in multi_turn:
            assert pair.chosen[0]["role"] == pair.rejected[0]["role"] == "assistant"


def test_jsonl_broken_line_becomes_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    lines = [json.dumps(alpaca(i)) for i in range(1, 41)]
    lines[36] = lines[36][:-1]  # line 37 loses its closing brace
    path.write_text("\n".join(lines))
    rows = parse_path(path)
    assert len(rows) == 40
    [bad] = [row for row in rows if row.error]
    assert bad.error is not None
    assert (bad.number, bad.error.number, bad.error.field, bad.raw, bad.fmt) == (
        37,
        37,
        "json",
        None,
        None,
    )
    assert bad.error.message.startswith("invalid JSON: ")


def test_invalid_records_keep_raw_and_use_the_source_unit(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps([alpaca(1), {"instruction": "", "output": "x"}, alpaca(3)]))
    rows = parse_path(path)
    assert [row.record is not None for row in rows] == [True, False, True]
    error = rows[1].error
    assert error is not None
    assert (error.number, error.unit, error.field) == (2, "record", "instruction")
    assert rows[1].raw == {"instruction": "", "output": "x"}
    assert rows[1].fmt == "alpaca"


def test_detection_skips_an_unrecognised_first_record(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "data.jsonl",
        [{"note": "header row"}, alpaca(1), {"prompt": "p", "completion": "c"}],
    )
    rows = parse_path(path)
    assert rows[0].error is not None and rows[0].error.field == "*"
    assert rows[1].fmt == "alpaca" and rows[1].record is not None
    # the format is fixed after detection, so the third row is judged as alpaca
    assert rows[2].error is not None and rows[2].error.field == "instruction"


def test_explicit_format(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    [row] = parse_path(path, "preference")
    assert isinstance(row.record, PairRecord)
    with (
        open_records(path) as source,
        pytest.raises(ValueError, match="messages, sharegpt, alpaca"),
    ):
        parse_file(source, "openai")


def test_sharegpt_parquet_end_to_end(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]},
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "alien", "value": "?"}]},
    ]
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    rows = parse_path(path)
    assert isinstance(rows[0].record, ExampleRecord)
    assert rows[1].error is not None
    assert (rows[1].error.unit, rows[1].error.field) == ("record", "conversations[1].from")


def test_messages_with_optional_keys_from_parquet(tmp_path: Path) -> None:
    # Parquet unifies struct fields, so absent keys come back as None and must not leak through.
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "weight": 1},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "q2", "name": "ann"},
                {"role": "assistant", "content": "b"},
            ]
        },
    ]
    path = tmp_path / "messages.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    rows = parse_path(path)
    assert [row.record.messages for row in rows if isinstance(row.record, ExampleRecord)] == [
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 1}],
        [{"role": "user", "content": "q2", "name": "ann"}, {"role": "assistant", "content": "b"}],
    ]
