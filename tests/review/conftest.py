"""Fixtures for review and pair tests: reviewers in the demo project, rows put in through the
real import service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.models import Project, Role, User
from tests.factories import Importer, add_member, import_records, make_member


@pytest.fixture
def reviewer(db: Session, project: Project) -> User:
    return make_member(db, project, "rev@example.com", Role.reviewer)


@pytest.fixture
def reviewer2(db: Session, project: Project) -> User:
    return make_member(db, project, "rev2@example.com", Role.reviewer)


@pytest.fixture
def member(db: Session, project: Project, annotator: User) -> User:
    """The annotator fixture, as an annotator of the demo project."""
    add_member(db, project, annotator, Role.annotator)
    return annotator


@pytest.fixture
def seed(db: Session, tmp_path: Path) -> Importer:
    """seed(project, records, **import options): write JSONL, import it, commit."""

    def run(project: Project, records: list[dict[str, Any]], **options: Any) -> None:
        import_records(db, project, records, tmp_path, **options)

    return run
