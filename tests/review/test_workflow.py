"""Approve / reject / send back through the REST API, with the project's approval rule and the
"not your own work" rule."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    ItemKind,
    ItemStatus,
    Label,
    LabelSlot,
    LabelState,
    Project,
    Review,
    Revision,
    User,
)
from tests.factories import (
    Importer,
    add_label,
    bearer,
    chat,
    examples_of,
    make_user,
    pair_record,
    pairs_of,
)


def _decide(
    client: TestClient,
    headers: dict[str, str],
    kind: str,
    item_id: int,
    decision: str,
    version: int,
    comment: str = "",
) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = client.post(
        f"/api/projects/demo/review/{kind}/{item_id}",
        json={"decision": decision, "version": version, "comment": comment},
        headers=headers,
    )
    return response.status_code, response.json()


def test_two_approvals_are_needed_from_two_distinct_reviewers(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    reviewer2: User,
    seed: Importer,
) -> None:
    project.approvals_required = 2
    db.commit()
    seed(project, [pair_record("Which is better?")])
    [item] = pairs_of(db, project)
    first, second = bearer(client, db, reviewer), bearer(client, db, reviewer2)

    status, body = _decide(client, first, "pair", item.id, "approve", item.version)
    assert status == 200, body
    assert (body["status"], body["approvals"], body["approvals_required"]) == ("submitted", 1, 2)
    status, body = _decide(client, first, "pairs", item.id, "approve", item.version)
    assert status == 200 and body["approvals"] == 1 and body["status"] == "submitted"

    status, body = _decide(client, second, "pair", item.id, "approve", item.version)
    assert status == 200 and body["approvals"] == 2 and body["status"] == "approved"
    assert body["version"] == item.version + 1
    db.expire_all()
    assert pairs_of(db, project)[0].status is ItemStatus.approved
    reviews = list(db.scalars(select(Review).where(Review.item_id == item.id)))
    assert len(reviews) == 3 and {r.content_hash for r in reviews} == {item.content_hash}
    revision = db.scalar(
        select(Revision).where(Revision.item_kind == "pair", Revision.action == "approve")
    )
    assert revision is not None
    assert (revision.before, revision.after) == ({"status": "submitted"}, {"status": "approved"})
    assert revision.user_id == reviewer2.id


def test_a_rejection_resets_the_approval_count(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    reviewer2: User,
    seed: Importer,
) -> None:
    project.approvals_required = 2
    db.commit()
    seed(project, [chat("hello")])
    [item] = examples_of(db, project)
    first, second = bearer(client, db, reviewer), bearer(client, db, reviewer2)
    assert _decide(client, first, "example", item.id, "approve", 1)[1]["approvals"] == 1
    status, body = _decide(client, second, "example", item.id, "reject", 1, "off topic")
    assert status == 200 and body["status"] == "rejected"
    # Overturning the rejection needs two fresh approvals.
    status, body = _decide(client, first, "example", item.id, "approve", body["version"])
    assert status == 200 and (body["approvals"], body["status"]) == (1, "submitted")


def test_a_reviewer_cannot_approve_their_own_edit(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    reviewer2: User,
    seed: Importer,
) -> None:
    seed(project, [chat("What is 2+2?", "5")])
    [item] = examples_of(db, project)
    mine = bearer(client, db, reviewer)
    edited = client.patch(
        f"/api/projects/demo/examples/{item.id}",
        json={"version": 1, "messages": [item.messages[0], {"role": "assistant", "content": "4"}]},
        headers=mine,
    ).json()
    status, body = _decide(client, mine, "example", item.id, "approve", edited["version"])
    assert status == 403
    assert "you edited example" in body["message"] and "another reviewer" in body["message"]
    assert db.scalar(select(Review).where(Review.item_id == item.id)) is None
    # they may still reject it; another reviewer may approve it
    other = bearer(client, db, reviewer2)
    status, body = _decide(client, other, "example", item.id, "approve", edited["version"])
    assert status == 200 and body["status"] == "approved"


def test_a_reviewer_cannot_approve_what_they_labeled(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [pair_record("Pick one")])
    [item] = pairs_of(db, project)
    add_label(db, project, ItemKind.pair, item.id, reviewer)
    status, body = _decide(client, bearer(client, db, reviewer), "pair", item.id, "approve", 1)
    assert status == 403 and "you labeled pair" in body["message"]
    status, body = _decide(client, bearer(client, db, reviewer), "pair", item.id, "reject", 1)
    assert status == 200 and body["status"] == "rejected"


def test_send_back_returns_the_labels_with_the_comment(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    seed(project, [chat("Summarise this")])
    [item] = examples_of(db, project)
    add_label(db, project, ItemKind.example, item.id, member)
    headers = bearer(client, db, reviewer)
    status, body = _decide(client, headers, "example", item.id, "needs_revision", 1, "   ")
    assert status == 422 and "needs a comment" in body["message"]

    status, body = _decide(
        client, headers, "example", item.id, "needs_revision", 1, "Too long; keep it short."
    )
    assert status == 200 and body["status"] == "needs_revision"
    assert body["review"]["comment"] == "Too long; keep it short."
    db.expire_all()
    label = db.scalar(select(Label).where(Label.item_id == item.id))
    assert label is not None and label.state is LabelState.returned
    assert examples_of(db, project)[0].status is ItemStatus.needs_revision
    # with its annotators now: no decision until it comes back
    status, body = _decide(client, headers, "example", item.id, "approve", body["version"])
    assert status == 422 and "with its annotators" in body["message"]


def test_send_back_of_an_unlabeled_item_reopens_its_slots(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    project.min_submissions = 2
    db.commit()
    seed(project, [chat("one"), chat("two")])
    first, second = examples_of(db, project)
    db.add(
        LabelSlot(
            project_id=project.id,
            item_kind="example",
            item_id=first.id,
            slot=0,
            user_id=member.id,
            done=True,
        )
    )
    db.commit()
    headers = bearer(client, db, reviewer)
    for item in (first, second):
        status, _ = _decide(client, headers, "example", item.id, "needs_revision", 1, "redo")
        assert status == 200
    db.expire_all()
    for item in (first, second):
        slots = list(
            db.scalars(
                select(LabelSlot).where(LabelSlot.item_id == item.id).order_by(LabelSlot.slot)
            )
        )
        assert [(s.slot, s.done, s.user_id, s.lease_expires_at) for s in slots] == [
            (0, False, None, None),
            (1, False, None, None),
        ]


def test_a_stale_version_is_a_conflict(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [pair_record("stale?")])
    [item] = pairs_of(db, project)
    headers = bearer(client, db, reviewer)
    swapped = client.post(
        f"/api/projects/demo/pairs/{item.id}/swap", json={"version": 1}, headers=headers
    )
    assert swapped.status_code == 200
    status, body = _decide(client, headers, "pair", item.id, "reject", 1)
    assert status == 409
    assert body["details"]["current_version"] == 2
    assert body["details"]["current"]["chosen"][0]["content"] == "bad answer"


def test_annotators_cannot_review_and_outsiders_see_nothing(
    client: TestClient,
    db: Session,
    project: Project,
    member: User,
    engineer: User,
    seed: Importer,
) -> None:
    from app.models import Role

    seed(project, [pair_record("policy")])
    [item] = pairs_of(db, project)
    annotator = bearer(client, db, member)
    assert _decide(client, annotator, "pair", item.id, "approve", 1)[0] == 403
    assert client.get("/api/projects/demo/review/queue", headers=annotator).status_code == 403
    assert (
        client.post(
            f"/api/projects/demo/pairs/{item.id}/swap", json={"version": 1}, headers=annotator
        ).status_code
        == 403
    )
    outsider = bearer(client, db, make_user(db, "out@example.com", Role.reviewer))
    assert _decide(client, outsider, "pair", item.id, "approve", 1)[0] == 404
    assert client.get("/api/projects/demo/review/queue", headers=outsider).status_code == 404
    # engineers (project creator) review too
    assert _decide(client, bearer(client, db, engineer), "pair", item.id, "approve", 1)[0] == 200
    assert _decide(client, annotator, "robots", item.id, "approve", 1)[0] == 403
