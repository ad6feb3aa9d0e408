"""The pieces examples and pairs share: snapshots, get-in-project, the one revision builder and
the "content changed" announcement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.items import changes, events
from app.items import repository as items
from app.items.kinds import content_differs, kind_of, parse_kind, snapshot
from app.models import ItemKind, Project, Revision, User
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from tests.factories import conversation, make_example, make_pair


@pytest.fixture
def heard() -> Iterator[list[tuple[ItemKind, int]]]:
    """What a test subscriber hears, registered for the test only."""
    calls: list[tuple[ItemKind, int]] = []

    def listener(db: Session, project: Project, user: User, kind: ItemKind, item_id: int) -> None:
        calls.append((kind, item_id))

    key = f"{listener.__module__}.{listener.__qualname__}"
    events.on_content_changed(listener)
    events.on_content_changed(listener)  # registering twice still hears once
    yield calls
    del events._subscribers[key]


def test_snapshots_hold_each_kinds_content_and_the_shared_fields(
    db: Session, project: Project
) -> None:
    example = make_example(db, project, conversation("Q?", "A."))
    pair = make_pair(db, project, prompt="P", chosen="good", rejected="bad")
    assert list(snapshot(example)) == ["messages", "tags", "rating", "status", "split"]
    assert list(snapshot(pair)) == ["prompt", "chosen", "rejected", "tags", "rating", "status",
                                    "split"]  # fmt: skip
    assert snapshot(pair)["status"] == "draft"
    assert kind_of(example) is ItemKind.example and kind_of(pair) is ItemKind.pair
    before = snapshot(pair)
    assert not content_differs(ItemKind.pair, before, {**before, "tags": ["x"]})
    assert content_differs(ItemKind.pair, before, {**before, "chosen": []})


def test_get_in_project_hides_other_projects_items(
    db: Session, project: Project, engineer: User
) -> None:
    other = projects.create(db, engineer, ProjectCreate(slug="other", name="Other"))
    elsewhere = make_example(db, other)
    assert items.get(db, other, ItemKind.example, elsewhere.id) is elsewhere
    with pytest.raises(NotFound, match=f"example {elsewhere.id} not found in project 'demo'"):
        items.get(db, project, ItemKind.example, elsewhere.id)
    with pytest.raises(NotFound, match="unknown item kind"):
        parse_kind("labels")


def test_record_stamps_the_item_and_builds_the_revision(
    db: Session, project: Project, engineer: User
) -> None:
    example = make_example(db, project)
    before: dict[str, Any] = {"status": "draft"}
    revision = changes.record(
        db, project, engineer, ItemKind.example, example, "edit", before, {"status": "draft"}
    )
    assert example.updated_by_id == engineer.id
    # the flush inside record bumps the version; the revision carries the new one
    assert (revision.item_kind, revision.item_id, revision.version) == ("example", example.id, 2)
    assert db.scalars(select(Revision).where(Revision.item_id == example.id)).one() is revision


def test_an_edit_announces_content_changed_once_and_only_for_content(
    db: Session, project: Project, engineer: User, heard: list[tuple[ItemKind, int]]
) -> None:
    example = make_example(db, project, conversation("Q?", "A."))
    examples.update(db, project, example.id, engineer, ExampleUpdate(version=1, tags=["t"]))
    assert heard == []
    new = conversation("Q?", "A better answer.")
    examples.update(db, project, example.id, engineer, ExampleUpdate(version=2, messages=new))
    assert heard == [(ItemKind.example, example.id)]
