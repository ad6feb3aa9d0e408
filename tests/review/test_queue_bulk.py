"""The review queue (filters, keyset paging across examples and pairs) and bulk decisions with
their confirmation count."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.models import ItemKind, ItemStatus, Project, Review, User
from tests.factories import Importer, add_label, bearer, chat, examples_of, pair_record, pairs_of

QUEUE = "/api/projects/demo/review/queue"
BULK = "/api/projects/demo/review/bulk"


def _all(client: TestClient, headers: dict[str, str], **params: str | int) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    cursor = None
    while True:
        query = {**params, **({"after": cursor} if cursor else {})}
        page = client.get(QUEUE, params=query, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [(i["kind"], i["id"]) for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return seen


def test_queue_lists_submitted_items_of_both_kinds_page_by_page(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    seed(project, [chat(f"question {i}") for i in range(4)])
    seed(project, [pair_record(f"prompt {i}") for i in range(3)])
    seed(project, [chat("pending one")], status="draft")
    ex, pa = examples_of(db, project), pairs_of(db, project)
    ex[0].status = ItemStatus.approved  # set up directly: item edits cannot approve
    db.commit()
    headers = bearer(client, db, reviewer)

    seen = _all(client, headers, limit=2)
    expected = {("example", e.id) for e in ex[1:4]} | {("pair", p.id) for p in pa}
    assert len(seen) == len(set(seen)) == 6
    assert set(seen) == expected
    first = client.get(QUEUE, params={"limit": 2}, headers=headers).json()
    assert first["total"] == 6 and len(first["items"]) == 2
    assert first["items"][0]["preview"]

    assert {k for k, _ in _all(client, headers, kind="pair")} == {"pair"}
    assert len(_all(client, headers, kind="example")) == 3
    assert client.get(QUEUE, params={"kind": "robot"}, headers=headers).status_code == 422


def test_queue_filters_by_source_tag_rating_and_annotator(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    seed(project, [chat("synthetic one")], source="synthetic")
    seed(project, [chat("imported one"), chat("imported two")])
    synthetic, one, two = examples_of(db, project)
    examples.update(
        db, project, one.id, reviewer, ExampleUpdate(version=1, tags=["math"], rating=5)
    )
    examples.update(db, project, two.id, reviewer, ExampleUpdate(version=1, rating=2))
    add_label(db, project, ItemKind.example, two.id, member)
    db.commit()
    headers = bearer(client, db, reviewer)
    assert _all(client, headers, source="synthetic") == [("example", synthetic.id)]
    assert _all(client, headers, tag="math") == [("example", one.id)]
    assert _all(client, headers, min_rating=3) == [("example", one.id)]
    assert _all(client, headers, annotator=member.id) == [("example", two.id)]
    labelled = client.get(QUEUE, params={"annotator": member.id}, headers=headers).json()
    assert labelled["items"][0]["labels"] == 1


def test_bulk_counts_first_refuses_a_changed_count_and_skips_own_edits(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    seed: Importer,
) -> None:
    seed(project, [chat(f"bulk {i}") for i in range(4)])
    seed(project, [pair_record("not an example")])
    items = examples_of(db, project)
    examples.update(db, project, items[0].id, reviewer, ExampleUpdate(version=1, rating=3))
    db.commit()
    headers = bearer(client, db, reviewer)
    body = {"action": "approve", "filter": {"kind": "example"}}

    dry = client.post(BULK, json=body, headers=headers)
    assert dry.status_code == 200, dry.text
    assert dry.json() == {
        "action": "approve",
        "count": 4,
        "applied": 0,
        "dry_run": True,
        "job_id": None,
        "skipped": [],
    }
    assert (
        client.post(
            BULK, json={**body, "expected_count": 4, "dry_run": True}, headers=headers
        ).json()["applied"]
        == 0
    )

    seed(project, [chat("arrived meanwhile")])
    stale = client.post(BULK, json={**body, "expected_count": 4}, headers=headers)
    assert stale.status_code == 409
    assert stale.json()["details"] == {"count": 5}
    db.expire_all()
    assert all(e.status is ItemStatus.submitted for e in examples_of(db, project))

    done = client.post(BULK, json={**body, "expected_count": 5}, headers=headers)
    assert done.status_code == 200, done.text
    result = done.json()
    assert (result["count"], result["applied"], result["dry_run"]) == (5, 4, False)
    assert result["skipped"] == [{"kind": "example", "id": items[0].id, "reason": "you edited it"}]
    db.expire_all()
    statuses = {e.id: e.status for e in examples_of(db, project)}
    assert statuses.pop(items[0].id) is ItemStatus.submitted
    assert set(statuses.values()) == {ItemStatus.approved}
    assert pairs_of(db, project)[0].status is ItemStatus.submitted  # outside the filter
    assert len(list(db.scalars(select(Review)))) == 4


def test_bulk_reject_decides_own_items_too(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [pair_record(f"p{i}") for i in range(3)], source="synthetic")
    seed(project, [pair_record("human")], source="human")
    headers = bearer(client, db, reviewer)
    body = {"action": "reject", "filter": {"source": "synthetic"}, "comment": "generator broke"}
    count = client.post(BULK, json=body, headers=headers).json()["count"]
    assert count == 3
    result = client.post(BULK, json={**body, "expected_count": count}, headers=headers).json()
    assert result["applied"] == 3 and result["skipped"] == []
    db.expire_all()
    assert [p.status.value for p in pairs_of(db, project)] == [
        "rejected",
        "rejected",
        "rejected",
        "submitted",
    ]
    assert {r.comment for r in db.scalars(select(Review))} == {"generator broke"}
