"""Fixtures for the page tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.models import Project
from tests.factories import Importer, import_records


@pytest.fixture
def import_rows(db: Session, tmp_path: Path) -> Importer:
    """import_rows(project, records, **options): write JSONL, import it, commit."""

    def run(project: Project, records: list[dict[str, Any]], **options: Any) -> None:
        import_records(db, project, records, tmp_path, **options)

    return run
