"""Container detection and streaming readers."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.formats import FileFormatError, RecordSource, RowError, json_sources, open_records
from app.formats.source_base import CHUNK_SIZE
from tests.factories import alpaca, write_jsonl


def read_all(path: Path) -> tuple[RecordSource, list[tuple[int, dict[str, Any] | RowError]]]:
    with open_records(path) as source:
        rows = list(source)
        assert source.fraction_read() == 1.0
    return source, rows


def errors(rows: list[tuple[int, dict[str, Any] | RowError]]) -> list[RowError]:
    return [row for _, row in rows if isinstance(row, RowError)]


# -- JSON Lines ---------------------------------------------------------------------------------


def test_jsonl_broken_line_is_reported_and_reading_continues(tmp_path: Path) -> None:
    lines = [json.dumps(alpaca(i)) for i in range(1, 51)]
    lines[36] = '{"instruction": "q" "output": "a"}'  # line 37: a missing comma
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    source, rows = read_all(path)
    assert source.unit == "line"
    assert source.container == "jsonl"
    assert len(rows) == 50
    [error] = errors(rows)
    assert (error.number, error.unit, error.field) == (37, "line", "json")
    assert error.message == "invalid JSON: Expecting ',' delimiter (col 21)"
    assert str(error) == "line 37, field json: invalid JSON: Expecting ',' delimiter (col 21)"
    assert rows[37] == (38, alpaca(38))


def test_jsonl_blank_lines_non_objects_and_odd_lines(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"a": 1}\n'  # a byte-order mark
        b"\n   \n"
        b'  {"b": 2}  \r\n'
        b"[1, 2]\n"
        b'{"c": 3} trailing\n'
        b'{"d": "\xff"}\n'
        b'{"e": 5}'  # no final newline
    )
    _, rows = read_all(path)
    assert [number for number, _ in rows] == [1, 4, 5, 6, 7, 8]
    assert rows[0][1] == {"a": 1}
    assert rows[1][1] == {"b": 2}
    messages = {number: row.message for number, row in rows if isinstance(row, RowError)}
    assert messages[5] == "expected a JSON object, got array"
    assert messages[6].startswith("invalid JSON: Extra data")
    assert messages[7].startswith("invalid UTF-8")
    assert rows[-1] == (8, {"e": 5})


def test_gzipped_jsonl(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl.gz", [alpaca(i) for i in range(3)], compress=True)
    source, rows = read_all(path)
    assert (source.container, source.compressed) == ("jsonl", True)
    assert [row for _, row in rows] == [alpaca(i) for i in range(3)]


def test_fraction_read_grows_while_streaming(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", [alpaca(i, "x" * 500) for i in range(8000)])
    with open_records(path) as source:
        seen = []
        for number, _ in source:
            if number % 2000 == 0:
                seen.append(source.fraction_read())
        assert source.fraction_read() == 1.0
    assert seen == sorted(seen)
    assert 0 < seen[0] < 0.5


# -- JSON arrays --------------------------------------------------------------------------------


def test_json_array(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps([alpaca(1), alpaca(2)], indent=2))
    source, rows = read_all(path)
    assert (source.unit, source.container) == ("record", "json")
    assert rows == [(1, alpaca(1)), (2, alpaca(2))]


def test_json_array_streams_a_file_bigger_than_a_chunk(tmp_path: Path) -> None:
    records = [alpaca(i, "é" * (i % 700)) for i in range(6000)]  # multi-byte text across chunks
    path = tmp_path / "big.json"
    path.write_text(json.dumps(records, ensure_ascii=False))
    assert path.stat().st_size > 3 * CHUNK_SIZE
    with open_records(path) as source:
        fractions = []
        count = 0
        for number, record in source:
            count += 1
            assert record == records[number - 1]
            if number == 1000:
                fractions.append(source.fraction_read())
    assert count == 6000
    assert fractions[0] < 0.5  # read incrementally, not all at once


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_json_array_with_tiny_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # Every value type split at every possible point still decodes the same.
    monkeypatch.setattr(json_sources, "CHUNK_SIZE", chunk)
    records: list[Any] = [
        {"a": 12345678, "b": -1.5e10, "c": True, "d": None, "e": 't\\u00e9xt " \\n'},
        {"nested": [[1, 2], {"x": "y"}], "unicode": "€😀"},
        123456789,
        "a string",
        {"last": False},
    ]
    path = tmp_path / "data.json"
    texts = [
        json.dumps(r, ensure_ascii=i % 2 == 0) for i, r in enumerate(records)
    ]  # \u escapes too
    path.write_text(" [ " + " ,\n ".join(texts) + " ] \n", encoding="utf-8")
    _, rows = read_all(path)
    assert [number for number, _ in rows] == [1, 2, 3, 4, 5]
    assert rows[0][1] == records[0]
    assert rows[1][1] == records[1]
    assert [r.message for r in errors(rows)] == [
        "expected a JSON object, got number",
        "expected a JSON object, got string",
    ]
    assert rows[4][1] == records[4]


def test_json_array_invalid_record_stops_reading(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(
        '[\n{"instruction": "a", "output": "b"},\n{"instruction": "c" "output": "d"},\n{"x": 1}]'
    )
    _, rows = read_all(path)
    assert rows[0] == (1, {"instruction": "a", "output": "b"})
    [error] = errors(rows)
    assert (error.number, error.unit, error.field) == (2, "record", "json")
    assert error.message == "invalid JSON: Expecting ',' delimiter (line 3, col 21)"
    assert len(rows) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"a": 1}', "unexpected end of file inside the array"),
        ('[{"a": 1},', "invalid JSON: Expecting value"),
        ('[{"a": 1},]', "invalid JSON: Expecting value"),
        ('[{"a": 1} {"b": 2}]', "invalid JSON: Expecting ',' delimiter"),
        ('[{"a": 1}] junk', "unexpected data after the array"),
        ('[{"a": "unterminated}]', "invalid JSON: Unterminated string"),
    ],
)
def test_json_array_malformed(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "data.json"
    path.write_text(text)
    _, rows = read_all(path)
    [error] = errors(rows)
    assert error.message.startswith(message)


def test_empty_json_array(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("  [ ]  ")
    assert read_all(path)[1] == []


def test_gzipped_json_array(tmp_path: Path) -> None:
    path = tmp_path / "data.json.gz"
    path.write_bytes(gzip.compress(json.dumps([alpaca(1)]).encode()))
    source, rows = read_all(path)
    assert (source.container, source.compressed, rows) == ("json", True, [(1, alpaca(1))])


# -- CSV ----------------------------------------------------------------------------------------


def test_csv_line_numbers_follow_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(
        "instruction,input,output\n"
        "Say hi,,Hi\n"
        '"A cell\nover three\nlines",,ok\n'
        "\n"
        "Next,x,y\n"
        "Too,many,fields,here\n"
        "Last,,z\n",
        newline="",
    )
    source, rows = read_all(path)
    assert (source.unit, source.container) == ("line", "csv")
    assert [number for number, _ in rows] == [2, 3, 7, 8, 9]
    assert rows[1][1] == {"instruction": "A cell\nover three\nlines", "input": "", "output": "ok"}
    assert rows[2][1] == {"instruction": "Next", "input": "x", "output": "y"}
    [error] = errors(rows)
    assert (error.number, error.field) == (8, "csv")
    assert error.message == "expected 3 fields (as in the header), got 4"


def test_csv_decodes_json_cells(tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    path = tmp_path / "data.csv"
    rows_in = [
        {"messages": json.dumps(messages), "tools": "", "prompt": "[1, 2] sorted?"},
        {"messages": "[not json", "tools": "", "prompt": json.dumps(messages)},
    ]
    with path.open("w", newline="") as out:
        out.write("messages,tools,prompt\n")
        for row in rows_in:
            out.write(
                ",".join(
                    '"' + row[k].replace('"', '""') + '"' for k in ("messages", "tools", "prompt")
                )
                + "\n"
            )
    _, rows = read_all(path)
    assert rows[0][1] == {"messages": messages, "tools": "", "prompt": "[1, 2] sorted?"}
    error = rows[1][1]
    assert isinstance(error, RowError)
    assert (error.number, error.field) == (3, "messages")
    assert error.message.startswith("invalid JSON")


def test_gzipped_tsv(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbfprompt\tcompletion\nHi, you\tHello\n"))
    source, rows = read_all(path)
    assert (source.container, source.compressed) == ("csv", True)
    assert rows == [(2, {"prompt": "Hi, you", "completion": "Hello"})]


def test_csv_header_must_name_every_column(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,,a\n1,2,3\n")
    with pytest.raises(FileFormatError, match=r"data\.csv"):
        open_records(path)


# -- Parquet and datasets directories -----------------------------------------------------------


def test_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(2500)
    ]
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=1000)
    source, rows = read_all(path)
    assert (source.unit, source.container) == ("record", "parquet")
    assert [number for number, _ in rows] == list(range(1, 2501))
    assert rows[1234][1] == records[1234]


def test_gzipped_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.Table.from_pylist([alpaca(1), alpaca(2)]), plain)
    path = tmp_path / "data.parquet.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    with open_records(path) as source:
        assert (source.container, source.compressed) == ("parquet", True)
        assert list(source) == [(1, alpaca(1)), (2, alpaca(2))]


def test_datasets_directory(tmp_path: Path) -> None:
    import datasets

    records = [{"prompt": f"p{i}", "chosen": "good", "rejected": "bad"} for i in range(1500)]
    datasets.Dataset.from_list(records).save_to_disk(str(tmp_path / "ds"))
    source, rows = read_all(tmp_path / "ds")
    assert (source.unit, source.container) == ("record", "datasets")
    assert rows[0] == (1, records[0])
    assert rows[-1] == (1500, records[-1])


def test_dataset_dict_directory_reads_train(tmp_path: Path) -> None:
    import datasets

    splits = datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_list([alpaca(0)]),
            "train": datasets.Dataset.from_list([alpaca(1), alpaca(2)]),
        }
    )
    splits.save_to_disk(str(tmp_path / "dd"))
    assert [row for _, row in read_all(tmp_path / "dd")[1]] == [alpaca(1), alpaca(2)]
    datasets.DatasetDict({"validation": datasets.Dataset.from_list([alpaca(3)])}).save_to_disk(
        str(tmp_path / "only")
    )
    assert [row for _, row in read_all(tmp_path / "only")[1]] == [alpaca(3)]


# -- whole-file problems ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b" \n\t\n", "empty"),
        (gzip.compress(b""), "empty"),
        (b"PK\x03\x04\x00\x00binary\x00stuff", "unrecognised file format"),
        (b"\xff\xfe{\x00}\x00", "UTF-16"),
        (b"\x1f\x8b\x08\x00garbage", "cannot read"),
        (b"PAR1 not really parquet", "not a readable Parquet file"),
    ],
)
def test_file_format_errors_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.bin"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=message) as info:
        open_records(path)
    assert str(path) in str(info.value)


def test_missing_file_and_plain_directory(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"nope\.jsonl: cannot open"):
        open_records(tmp_path / "nope.jsonl")
    (tmp_path / "folder").mkdir()
    with pytest.raises(FileFormatError, match="save_to_disk"):
        open_records(tmp_path / "folder")


def test_truncated_gzip_raises_while_reading(tmp_path: Path) -> None:
    # Random text compresses poorly, so the cut lands well past what opening the file reads.
    lines = (json.dumps({"prompt": os.urandom(200).hex(), "completion": "x"}) for _ in range(20000))
    data = gzip.compress("\n".join(lines).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with open_records(path) as source, pytest.raises(FileFormatError, match=r"cut\.jsonl\.gz"):
        for _ in source:
            pass


def test_a_source_is_iterated_once(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [alpaca(1)])
    with open_records(path) as source:
        assert len(list(source)) == 1
        with pytest.raises(RuntimeError, match="only be iterated once"):
            iter(source)
