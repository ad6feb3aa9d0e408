"""Reverting an example or a pair to a revision (reviewers only)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.formats import example_hash, pair_hash
from app.models import ItemStatus, LabelSlot, Project, Revision, User
from tests.factories import Importer, bearer, chat, examples_of, pair_record, pairs_of

EXAMPLES = "/api/projects/demo/examples"
PAIRS = "/api/projects/demo/pairs"


def _answer(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "Explain gravity"}, {"role": "assistant", "content": text}]


def _revisions(db: Session, kind: str, item_id: int) -> list[Revision]:
    db.expire_all()
    return list(
        db.scalars(
            select(Revision)
            .where(Revision.item_kind == kind, Revision.item_id == item_id)
            .order_by(Revision.id)
        )
    )


def test_revert_restores_an_example_and_records_a_revision(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    seed(project, [{"messages": _answer("original")}])
    [item] = examples_of(db, project)
    url = f"{EXAMPLES}/{item.id}"
    annotator = bearer(client, db, member)
    headers = bearer(client, db, reviewer)
    # Overriding the item's rating is a reviewer's call (annotators rate in their labels).
    v2 = client.patch(
        url, json={"version": 1, "messages": _answer("first edit"), "rating": 4}, headers=headers
    ).json()
    v3 = client.patch(
        url, json={"version": v2["version"], "messages": _answer("second edit")}, headers=annotator
    ).json()
    first_edit, _ = _revisions(db, "example", item.id)

    denied = client.post(
        f"{url}/revert", json={"revision_id": first_edit.id, "version": 3}, headers=annotator
    )
    assert denied.status_code == 403

    stale = client.post(
        f"{url}/revert", json={"revision_id": first_edit.id, "version": 2}, headers=headers
    )
    assert stale.status_code == 409
    assert stale.json()["details"]["current"]["messages"][1]["content"] == "second edit"

    reverted = client.post(
        f"{url}/revert",
        json={"revision_id": first_edit.id, "version": v3["version"]},
        headers=headers,
    )
    assert reverted.status_code == 200, reverted.text
    body = reverted.json()
    assert body["messages"][1]["content"] == "first edit"
    assert body["rating"] == 4 and body["version"] == 4
    assert body["content_hash"] == example_hash(_answer("first edit"), None)
    history = _revisions(db, "example", item.id)
    assert [r.action for r in history] == ["edit", "edit", "revert"]
    last = history[-1]
    assert last.user_id == reviewer.id and last.version == 4
    assert last.before is not None and last.after is not None
    assert last.before["messages"][1]["content"] == "second edit"
    assert last.after["messages"][1]["content"] == "first edit"
    assert last.after["reverted_to"] == f"after revision {first_edit.id}"

    original = client.post(
        f"{url}/revert",
        json={"revision_id": first_edit.id, "version": 4, "before": True},
        headers=headers,
    )
    assert original.status_code == 200
    assert original.json()["messages"][1]["content"] == "original"
    assert original.json()["rating"] is None

    again = client.post(
        f"{url}/revert",
        json={"revision_id": first_edit.id, "version": 5, "before": True},
        headers=headers,
    )
    assert again.status_code == 422 and "already" in again.json()["message"]


def test_revert_refuses_a_revision_of_another_item(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [chat("a"), chat("b")])
    first, second = examples_of(db, project)
    headers = bearer(client, db, reviewer)
    client.patch(f"{EXAMPLES}/{first.id}", json={"version": 1, "rating": 2}, headers=headers)
    [revision] = _revisions(db, "example", first.id)
    response = client.post(
        f"{EXAMPLES}/{second.id}/revert",
        json={"revision_id": revision.id, "version": 1},
        headers=headers,
    )
    assert response.status_code == 404


def test_revert_brings_back_a_rejected_item_without_restoring_an_approval(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    reviewer2: User,
    seed: Importer,
) -> None:
    seed(project, [chat("keep me")])
    [item] = examples_of(db, project)
    url = f"{EXAMPLES}/{item.id}"
    headers = bearer(client, db, reviewer)
    approved = client.post(
        f"/api/projects/demo/review/example/{item.id}",
        json={"decision": "approve", "version": 1},
        headers=headers,
    ).json()
    client.post(
        f"/api/projects/demo/review/example/{item.id}",
        json={"decision": "reject", "version": approved["version"]},
        headers=headers,
    )
    approve_rev, _reject_rev = _revisions(db, "example", item.id)
    other = bearer(client, db, reviewer2)
    back = client.post(
        f"{url}/revert", json={"revision_id": approve_rev.id, "version": 3}, headers=other
    )
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "submitted"  # approvals are given, never restored
    pending = client.post(
        f"{url}/revert",
        json={"revision_id": approve_rev.id, "version": 4, "before": True},
        headers=other,
    )
    assert pending.status_code == 422  # submitted already: nothing to do


def test_reverting_to_pending_returns_the_item_to_the_labeling_queue(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [chat("discarded by mistake")], status="draft")
    [item] = examples_of(db, project)
    headers = bearer(client, db, reviewer)
    discarded = client.post(
        f"/api/projects/demo/labels/examples/{item.id}/discard",
        json={"note": "unusable"},
        headers=headers,
    )
    assert discarded.status_code == 200, discarded.text
    [discard] = _revisions(db, "example", item.id)
    response = client.post(
        f"{EXAMPLES}/{item.id}/revert",
        json={"revision_id": discard.id, "version": 2, "before": True},
        headers=headers,
    )
    assert response.status_code == 200 and response.json()["status"] == ItemStatus.draft.value
    slots = list(db.scalars(select(LabelSlot).where(LabelSlot.item_id == item.id)))
    assert [(s.done, s.user_id) for s in slots] == [(False, None)]


def test_revert_a_pair_after_a_swap_and_an_edit(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [pair_record("Name a colour", "blue", "the number 7")])
    [item] = pairs_of(db, project)
    imported_hash = item.content_hash
    headers = bearer(client, db, reviewer)
    client.post(f"{PAIRS}/{item.id}/swap", json={"version": 1}, headers=headers)
    edited = client.patch(
        f"{PAIRS}/{item.id}",
        json={"version": 2, "rejected": [{"role": "assistant", "content": "sky blue"}]},
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    swap, _edit = _revisions(db, "pair", item.id)
    response = client.post(
        f"{PAIRS}/{item.id}/revert",
        json={"revision_id": swap.id, "version": 3, "before": True},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["chosen"][0]["content"] == "blue"
    assert body["rejected"][0]["content"] == "the number 7"
    assert (
        body["content_hash"]
        == imported_hash
        == pair_hash(body["prompt"], body["chosen"], body["rejected"])
    )
    assert [r.action for r in _revisions(db, "pair", item.id)] == ["swap", "edit", "revert"]
