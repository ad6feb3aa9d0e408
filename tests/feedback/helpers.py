"""Feedback files in every container, and running the real import service on them."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from app.feedback.importer import import_feedback
from app.feedback.schemas import FeedbackImportOptions, FeedbackImportSummary, FieldNames
from app.models import Project
from tests.factories import write_jsonl

# One log as an app writes it: two answers per prompt rated up/down, a 1..5 rating, a
# multi-turn conversation, and a two-answers-one-pick row.
LOG: list[dict[str, Any]] = [
    {"id": "e1", "prompt": "Capital of France?", "response": "Paris.", "rating": "up"},
    {"id": "e2", "prompt": "capital of  france?", "response": "Lyon.", "rating": "down"},
    {"id": "e3", "prompt": "Say hi", "response": "Hi!", "rating": 5},
    {"id": "e4", "prompt": "Say hi", "response": "Go away.", "rating": 1},
    {"id": "e5", "prompt": "Say hi", "response": "Hello.", "rating": 3},
    {"id": "e6", "messages": [{"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello!"},
                              {"role": "user", "content": "2+2?"},
                              {"role": "assistant", "content": "4"}], "rating": True},
    {"id": "e7", "prompt": "Name a colour", "responses": ["Blue.", "Seven."], "choice": 0},
]  # fmt: skip


def write(path: Path, records: list[dict[str, Any]], container: str, compress: bool) -> Path:
    if container == "jsonl":
        return write_jsonl(path.with_suffix(".jsonl" + (".gz" if compress else "")), records,
                           compress=compress)  # fmt: skip
    if container == "csv":
        names = sorted({k for r in records for k in r})
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        for record in records:
            writer.writerow({k: _cell(v) for k, v in record.items()})
        data = out.getvalue().encode()
        target = path.with_suffix(".csv" + (".gz" if compress else ""))
    else:
        buffer = io.BytesIO()
        rows = [{k: _cell(r.get(k)) for k in sorted({k for r in records for k in r})}
                for r in records]  # fmt: skip
        pq.write_table(pa.Table.from_pylist(rows), buffer)
        data = buffer.getvalue()
        target = path.with_suffix(".parquet" + (".gz" if compress else ""))
    target.write_bytes(gzip.compress(data) if compress else data)
    return target


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_import(
    db: Session,
    project: Project,
    path: Path,
    *,
    fields: dict[str, str] | None = None,
    skip_invalid: bool = False,
    **kwargs: Any,
) -> FeedbackImportSummary:
    options = FeedbackImportOptions(
        fields=FieldNames.model_validate(fields or {}), skip_invalid=skip_invalid
    )
    return import_feedback(
        db, project_id=project.id, path=path, options=options, display_name=path.name, **kwargs
    )
