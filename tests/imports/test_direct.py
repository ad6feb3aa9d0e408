"""PostgreSQL's COPY path: a hash another writer committed after the batch's lookup still ends
in one row, through the batch's fallback to the staging merge (ON CONFLICT DO NOTHING)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.imports import direct
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import Example, Project
from tests.factories import alpaca, write_jsonl


def test_a_hash_that_appears_after_the_lookup_falls_back_to_the_merge(
    db: Session, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    path = write_jsonl(tmp_path / "rows.jsonl", [alpaca(i) for i in range(30)])

    def run() -> Any:
        return import_file(
            db, project_id=project.id, path=path, options=ImportOptions(), user_id=None,
            batch_rows=7,
        )  # fmt: skip

    assert run().examples == 30
    # The lookup misses every hash already stored, as a concurrent writer's would be missed.
    monkeypatch.setattr(direct.DirectLoader, "_not_in_project", lambda self, model, rows: rows)
    extra = write_jsonl(tmp_path / "more.jsonl", [alpaca(i) for i in range(25, 40)])
    path = extra
    summary = run()
    assert (summary.examples, summary.duplicates_skipped) == (10, 5)
    count = db.scalar(select(func.count()).where(Example.project_id == project.id))
    assert count == 40
