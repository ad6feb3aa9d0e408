"""Helpers for the page tests: put rows into a project through the real import service."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import Project

XSS_PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<div hx-get="/logout" hx-trigger="load">x</div>',
)

Importer = Callable[..., None]


@pytest.fixture
def import_rows(db: Session, tmp_path: Path) -> Importer:
    """import_rows(project, records, **options): write JSONL, import it, commit."""

    def run(project: Project, records: list[dict[str, Any]], **options: Any) -> None:
        path = tmp_path / f"rows-{len(list(tmp_path.iterdir()))}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        import_file(
            db, project_id=project.id, path=path, options=ImportOptions(**options), user_id=None
        )
        db.commit()

    return run


def chat(user: str, assistant: str = "an answer") -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    }
