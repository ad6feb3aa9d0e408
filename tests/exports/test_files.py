"""Snapshot file writing: the hand-built items.jsonl line is the JSON the generic encoder writes."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from app.exports.files import JsonlFiles, item_line


@pytest.mark.parametrize(
    ("kind", "item_id", "version", "content_hash", "split"),
    [
        ("sft", 1, 1, "ab" * 32, "train"),
        ("preference", 9_876_543_210, 42, "0" * 64, "validation"),
        ("sft", 7, 3, 'odd"hash\\with\nescapes', "train"),
    ],
)
def test_item_line_is_the_encoded_row(
    kind: str, item_id: int, version: int, content_hash: str, split: str
) -> None:
    row = {"kind": kind, "id": item_id, "version": version, "content_hash": content_hash,
           "split": split}  # fmt: skip
    line = item_line(kind, item_id, version, content_hash, split)
    assert line == orjson.dumps(row) + b"\n"
    assert json.loads(line) == row


def test_rows_counted_per_file(tmp_path: Path) -> None:
    files = JsonlFiles(tmp_path)
    files.write("a.jsonl", {"x": "<script>"})
    files.write_line("a.jsonl", b'{"x":2}\n')
    files.write_line("b.jsonl", item_line("sft", 1, 1, "h", "train"))
    files.close()
    assert files.rows == {"a.jsonl": 2, "b.jsonl": 1}
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"x": "<script>"}, {"x": 2}]
