"""Fixtures for review and pair tests: reviewers in the demo project, rows put in through the
real import service, labels written as the labeling queue leaves them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import (
    Example,
    ItemKind,
    Label,
    LabelState,
    Preference,
    PreferencePair,
    Project,
    Role,
    User,
)
from tests.conftest import add_member, make_user

XSS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<div hx-get="/logout" hx-trigger="load">x</div>',
)

Seeder = Callable[..., None]


@pytest.fixture
def reviewer(db: Session, project: Project) -> User:
    user = make_user(db, "rev@example.com", Role.reviewer)
    add_member(db, project, user, Role.reviewer)
    return user


@pytest.fixture
def reviewer2(db: Session, project: Project) -> User:
    user = make_user(db, "rev2@example.com", Role.reviewer)
    add_member(db, project, user, Role.reviewer)
    return user


@pytest.fixture
def member(db: Session, project: Project, annotator: User) -> User:
    """The annotator fixture, as an annotator of the demo project."""
    add_member(db, project, annotator, Role.annotator)
    return annotator


@pytest.fixture
def seed(db: Session, tmp_path: Path) -> Seeder:
    """seed(project, records, **import options): write JSONL, import it, commit."""

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


def pair(prompt: str, chosen: str = "good answer", rejected: str = "bad answer") -> dict[str, Any]:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def examples_of(db: Session, project: Project) -> list[Example]:
    return list(
        db.scalars(select(Example).where(Example.project_id == project.id).order_by(Example.id))
    )


def pairs_of(db: Session, project: Project) -> list[PreferencePair]:
    return list(
        db.scalars(
            select(PreferencePair)
            .where(PreferencePair.project_id == project.id)
            .order_by(PreferencePair.id)
        )
    )


def add_label(
    db: Session,
    project: Project,
    kind: ItemKind,
    item_id: int,
    user: User,
    *,
    state: LabelState = LabelState.submitted,
    rating: int | None = 4,
    preference: Preference | None = None,
    note: str = "",
    tags: list[str] | None = None,
) -> Label:
    label = Label(
        project_id=project.id,
        item_kind=kind.value,
        item_id=item_id,
        user_id=user.id,
        state=state,
        rating=rating,
        preference=preference,
        note=note,
        tags=tags or [],
        seconds=12.5,
    )
    db.add(label)
    db.commit()
    return label
