"""Shared helpers for the format tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def write_jsonl(path: Path, records: list[Any], *, compress: bool = False) -> Path:
    text = "".join(json.dumps(record) + "\n" for record in records)
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def alpaca(i: int, output: str = "an answer") -> dict[str, str]:
    return {"instruction": f"question {i}", "input": "", "output": output}
