"""Revisions as the item pages show them: author, changed fields and a readable diff."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from app.items import repository
from app.items.diff import changed_fields, diff_snapshots
from app.models import Revision


class Authors:
    """User emails by id, looked up once per page."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.emails: dict[int, str] = {}

    def __call__(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in self.emails:
            self.emails[user_id] = repository.user_email(self.db, user_id) or f"user {user_id}"
        return self.emails[user_id]


def revision_rows(
    db: Session, revisions: Iterable[Revision], authors: Authors | None = None
) -> list[dict[str, Any]]:
    """Each revision with its author's email, the names of the fields it changed and its diff."""
    author_of = authors or Authors(db)
    return [
        {
            "revision": revision,
            "author": author_of(revision.user_id),
            "changed": changed_fields(revision.before, revision.after),
            "diff": diff_snapshots(revision.before, revision.after),
        }
        for revision in revisions
    ]
