"""Editing and swapping pairs with versions, and pairs made from SFT examples."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.formats import pair_hash
from app.models import ItemKind, Label, Preference, Project, Revision, User
from tests.factories import Importer, add_label, bearer, chat, examples_of, pair_record, pairs_of

PAIRS = "/api/projects/demo/pairs"


def test_edit_a_pair_with_its_version(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(
        project,
        [pair_record("Capital of France?", "Paris", "Lyon"), pair_record("Other", "yes", "no")],
    )
    item, other = pairs_of(db, project)
    headers = bearer(client, db, reviewer)
    url = f"{PAIRS}/{item.id}"
    better = [{"role": "assistant", "content": "Paris, on the Seine."}]
    first = client.patch(
        url, json={"version": 1, "chosen": better, "tags": ["geo"], "rating": 5}, headers=headers
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert (
        body["version"] == 2
        and body["chosen"] == better
        and body["rejected"][0]["content"] == "Lyon"
    )
    assert body["content_hash"] == pair_hash(body["prompt"], body["chosen"], body["rejected"])
    assert (body["tags"], body["rating"]) == (["geo"], 5)

    stale = client.patch(url, json={"version": 1, "rejected": better}, headers=headers)
    assert stale.status_code == 409
    details = stale.json()["details"]
    assert details["current_version"] == 2 and details["current"]["chosen"] == better

    same = client.patch(
        url, json={"version": 2, "chosen": better, "rejected": better}, headers=headers
    )
    assert same.status_code == 422 and "identical" in same.json()["message"]
    clash = client.patch(
        f"{PAIRS}/{other.id}",
        json={
            "version": 1,
            "prompt": body["prompt"],
            "chosen": body["chosen"],
            "rejected": body["rejected"],
        },
        headers=headers,
    )
    assert clash.status_code == 409 and f"pair {item.id}" in clash.json()["message"]

    db.expire_all()
    [revision] = db.scalars(select(Revision).where(Revision.item_id == item.id))
    assert revision.action == "edit" and revision.user_id == reviewer.id
    assert revision.before is not None and revision.before["chosen"][0]["content"] == "Paris"
    assert revision.after is not None and revision.after["chosen"] == better


def test_annotators_cannot_edit_pairs(
    client: TestClient, db: Session, project: Project, member: User, seed: Importer
) -> None:
    seed(project, [pair_record("p")])
    [item] = pairs_of(db, project)
    response = client.patch(
        f"{PAIRS}/{item.id}", json={"version": 1, "rating": 3}, headers=bearer(client, db, member)
    )
    assert response.status_code == 403


def test_swap_exchanges_the_sides_and_keeps_what_annotators_meant(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    seed(project, [pair_record("Which?", "worse one", "better one")])
    [item] = pairs_of(db, project)
    label = add_label(db, project, ItemKind.pair, item.id, member, preference=Preference.rejected)
    headers = bearer(client, db, reviewer)
    response = client.post(f"{PAIRS}/{item.id}/swap", json={"version": 1}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["chosen"][0]["content"] == "better one"
    assert body["rejected"][0]["content"] == "worse one"
    assert body["version"] == 2
    assert body["content_hash"] == pair_hash(body["prompt"], body["chosen"], body["rejected"])
    db.expire_all()
    assert db.get(Label, label.id).preference is Preference.chosen  # type: ignore[union-attr]
    [revision] = db.scalars(select(Revision).where(Revision.item_id == item.id))
    assert revision.action == "swap"
    assert revision.before is not None and revision.after is not None
    assert revision.before["chosen"] == revision.after["rejected"]
    again = client.post(f"{PAIRS}/{item.id}/swap", json={"version": 1}, headers=headers)
    assert again.status_code == 409


def test_an_annotator_makes_a_pair_from_an_example(
    client: TestClient,
    db: Session,
    project: Project,
    member: User,
    seed: Importer,
) -> None:
    turns = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Capital of Peru?"},
        {"role": "assistant", "content": "Lima."},
    ]
    seed(project, [{"messages": turns}])
    [example] = examples_of(db, project)
    headers = bearer(client, db, member)
    url = f"/api/projects/demo/examples/{example.id}/pairs"
    response = client.post(
        url,
        json={"alternative": "  It is Lima, on the coast.  ", "better": "alternative"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["prompt"] == turns[:4]
    assert body["chosen"] == [{"role": "assistant", "content": "It is Lima, on the coast."}]
    assert body["rejected"] == [turns[4]]
    assert (body["source"], body["status"]) == ("human", "submitted")
    assert body["content_hash"] == pair_hash(turns[:4], body["chosen"], body["rejected"])
    [revision] = db.scalars(select(Revision).where(Revision.item_kind == "pair"))
    assert revision.action == "create" and revision.user_id == member.id
    assert revision.before is None and revision.after is not None
    assert revision.after["from_example"] == example.id

    twice = client.post(
        url,
        json={"alternative": "It is Lima, on the coast.", "better": "alternative"},
        headers=headers,
    )
    assert twice.status_code == 409 and twice.json()["details"] == {"pair_id": body["id"]}
    original = client.post(
        url,
        json={"alternative": "It is Lima, on the coast.", "better": "original"},
        headers=headers,
    )
    assert original.status_code == 201
    assert original.json()["chosen"] == [turns[4]]
    blank = client.post(url, json={"alternative": "   ", "better": "original"}, headers=headers)
    assert blank.status_code == 422
    bad = client.post(url, json={"alternative": "x", "better": "both"}, headers=headers)
    assert bad.status_code == 422


def test_no_pair_from_an_example_without_a_response(
    client: TestClient, db: Session, project: Project, member: User, seed: Importer
) -> None:
    seed(project, [{"messages": [{"role": "user", "content": "unanswered"}]}], status="draft")
    seed(project, [chat("answered")])
    unanswered, _ = examples_of(db, project)
    response = client.post(
        f"/api/projects/demo/examples/{unanswered.id}/pairs",
        json={"alternative": "mine", "better": "alternative"},
        headers=bearer(client, db, member),
    )
    assert response.status_code == 422 and "needs its response" in response.json()["message"]
