"""Saved selections: created from the project's own items only, and exports filter on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid
from app.exports import service as exports
from app.exports.schemas import ExportCreate
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import Example, ItemStatus, Project, Role, User
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.selections import service
from tests.factories import SHARED_DATA, add_member, bearer, make_user


@pytest.fixture
def ids(db: Session, project: Project, engineer: User, tmp_path: Path) -> list[int]:
    rows = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())[:30]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_file(db, project_id=project.id, path=path, user_id=engineer.id,
                options=ImportOptions(status=ItemStatus.approved),
                rejects_path=tmp_path / "r.jsonl")  # fmt: skip
    db.commit()
    return list(db.scalars(select(Example.id).order_by(Example.id)))


def test_selection_holds_only_this_projects_items(
    db: Session, project: Project, engineer: User, ids: list[int]
) -> None:
    other = projects.create(db, engineer, ProjectCreate(slug="other", name="Other"))
    with pytest.raises(Invalid, match="not items of this project"):
        service.create(db, other, engineer, name="x", examples=ids[:3])
    selection = service.create(db, project, engineer, name=" diverse  v1 ", examples=ids[:5])
    assert selection.name == "diverse v1" and selection.item_count == 5
    with pytest.raises(Conflict):
        service.create(db, project, engineer, name="diverse v1", examples=ids[:2])
    with pytest.raises(Invalid, match="at least one item"):
        service.create(db, project, engineer, name="empty")


def test_export_filters_on_a_selection(
    db: Session, project: Project, engineer: User, ids: list[int], tmp_path: Path
) -> None:
    selection = service.create(db, project, engineer, name="subset", examples=ids[::3])
    db.commit()
    data = ExportCreate(format="messages", selection_id=selection.id)
    snap = exports.new_snapshot(db, project, None, data)
    db.commit()
    snap = exports.run(db, snap.id, tmp_path / "exports")
    assert snap.state == "ready"
    assert snap.manifest["counts"]["sft"]["train"]["imported"] == len(ids[::3])
    assert snap.manifest["filters"]["selection"] == {"id": selection.id, "name": "subset",
                                                     "items": len(ids[::3])}  # fmt: skip


def test_selection_api(
    client: TestClient, db: Session, project: Project, engineer: User, ids: list[int]
) -> None:
    headers = bearer(client, db, engineer)
    url = f"/api/projects/{project.slug}/selections"
    made = client.post(url, json={"name": "hand-picked", "examples": ids[:4]}, headers=headers)
    assert made.status_code == 201, made.text
    got = client.get(f"{url}/{made.json()['id']}", headers=headers).json()
    assert got["examples"] == ids[:4] and got["pairs"] == []
    annotator = make_user(db, "ann@example.com", Role.annotator)
    add_member(db, project, annotator, Role.annotator)
    db.commit()
    denied = client.post(url, json={"name": "n", "examples": ids[:1]},
                         headers=bearer(client, db, annotator))  # fmt: skip
    assert denied.status_code == 403
    assert client.delete(f"{url}/{made.json()['id']}", headers=headers).status_code == 204
    assert client.get(url, headers=headers).json() == []
