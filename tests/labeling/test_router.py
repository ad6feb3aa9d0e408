"""The labeling REST API against the real app (TestClient), as the benchmark and scripts use it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Example, ItemStatus, Label, LabelState, Project, Role, User
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from tests.factories import add_member, bearer, login, make_examples, make_pairs, make_user

BASE = "/api/projects/demo"


@pytest.fixture
def member(db: Session, project: Project, annotator: User) -> User:
    add_member(db, project, annotator, Role.annotator)
    return annotator


def _next(client: TestClient, headers: dict[str, str], kind: str = "examples") -> dict[str, Any]:
    response = client.post(f"{BASE}/queue/{kind}/next", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_next_draft_submit_round_trip(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    project.label_tags = ["factual", "verbose"]
    db.commit()
    items = make_examples(db, project, 2)
    headers = bearer(client, db, member)
    got = _next(client, headers)
    assert got["item"]["id"] == items[0].id
    assert got["label"]["state"] == "draft"
    assert got["lease_expires_at"] and got["returned_comment"] is None
    item_id, version = got["item"]["id"], got["item"]["version"]

    draft = client.put(
        f"{BASE}/labels/examples/{item_id}/draft",
        json={"version": version, "draft": {"edited": False}, "rating": 4, "note": "so far"},
        headers=headers,
    )
    assert draft.status_code == 200, draft.text
    assert draft.json()["rating"] == 4 and draft.json()["draft"] == {"edited": False}

    bad_tag = client.post(
        f"{BASE}/labels/examples/{item_id}/submit",
        json={"version": version, "rating": 4, "tags": ["nope"]},
        headers=headers,
    )
    assert bad_tag.status_code == 422 and "unknown tag" in bad_tag.json()["message"]

    messages = [*got["item"]["messages"][:-1], {"role": "assistant", "content": "Better answer."}]
    done = client.post(
        f"{BASE}/labels/examples/{item_id}/submit",
        json={"version": version, "messages": messages, "rating": 4, "tags": ["factual"],
              "note": "fixed the answer"},
        headers=headers,
    )  # fmt: skip
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["label"]["state"] == "submitted" and body["label"]["draft"] is None
    assert body["item"]["status"] == "submitted"
    assert body["item"]["messages"][-1]["content"] == "Better answer."
    assert body["item"]["version"] > version
    assert body["item"]["tags"] == ["factual"] and body["item"]["rating"] == 4

    again = client.post(
        f"{BASE}/labels/examples/{item_id}/submit", json={"version": version}, headers=headers
    )
    assert again.status_code == 409
    assert _next(client, headers)["item"]["id"] == items[1].id


def test_nothing_left_is_204(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    headers = bearer(client, db, member)
    response = client.post(f"{BASE}/queue/examples/next", headers=headers)
    assert response.status_code == 204 and response.content == b""
    assert client.post(f"{BASE}/queue/things/next", headers=headers).status_code == 422


def test_stale_edit_is_409_with_both_versions(
    client: TestClient, db: Session, project: Project, member: User, engineer: User
) -> None:
    (item,) = make_examples(db, project, 1)
    headers = bearer(client, db, member)
    got = _next(client, headers)
    theirs = [*item.messages[:-1], {"role": "assistant", "content": "Engineer's answer."}]
    patched = client.patch(
        f"{BASE}/examples/{item.id}",
        json={"version": got["item"]["version"], "messages": theirs},
        headers=bearer(client, db, engineer),
    )
    assert patched.status_code == 200, patched.text
    mine = [*item.messages[:-1], {"role": "assistant", "content": "Annotator's answer."}]
    response = client.post(
        f"{BASE}/labels/examples/{item.id}/submit",
        json={"version": got["item"]["version"], "messages": mine, "rating": 3},
        headers=headers,
    )
    assert response.status_code == 409
    details = response.json()["details"]
    assert details["current"]["messages"] == theirs
    assert details["current_version"] == patched.json()["version"]
    assert details["mine"]["messages"] == mine
    db.expire_all()
    assert db.get(Example, item.id).messages == theirs  # type: ignore[union-attr]
    # keep mine: the same text against the new version saves
    kept = client.post(
        f"{BASE}/labels/examples/{item.id}/submit",
        json={"version": details["current_version"], "messages": mine, "rating": 3},
        headers=headers,
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["item"]["messages"] == mine


def test_unchanged_messages_on_an_old_version_are_no_conflict(
    client: TestClient, db: Session, project: Project, member: User, engineer: User
) -> None:
    (item,) = make_examples(db, project, 1)
    headers = bearer(client, db, member)
    got = _next(client, headers)
    client.patch(
        f"{BASE}/examples/{item.id}",
        json={"version": item.version, "tags": ["x"]},
        headers=bearer(client, db, engineer),
    )
    response = client.post(
        f"{BASE}/labels/examples/{item.id}/submit",
        json={"version": got["item"]["version"], "messages": None, "rating": 2},
        headers=headers,
    )
    assert response.status_code == 200, response.text


def test_annotators_edit_user_turns_only_where_the_project_allows(
    client: TestClient, db: Session, project: Project, member: User, engineer: User
) -> None:
    (item,) = make_examples(db, project, 1)
    headers = bearer(client, db, member)
    got = _next(client, headers)
    edited = [{"role": "user", "content": "A different question?"}, item.messages[-1]]
    body = {"version": got["item"]["version"], "messages": edited, "rating": 3}
    denied = client.post(f"{BASE}/labels/examples/{item.id}/submit", json=body, headers=headers)
    assert denied.status_code == 403
    assert "only assistant turns" in denied.json()["message"]
    allow = client.patch(
        "/api/projects/demo", json={"annotators_edit_prompts": True},
        headers=bearer(client, db, engineer),
    )  # fmt: skip
    assert allow.status_code == 200, allow.text
    allowed = client.post(f"{BASE}/labels/examples/{item.id}/submit", json=body, headers=headers)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["item"]["messages"][0]["content"] == "A different question?"


def test_adding_and_removing_assistant_turns_is_allowed(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    (item,) = make_examples(db, project, 1)
    headers = bearer(client, db, member)
    got = _next(client, headers)
    longer = [*item.messages, {"role": "user", "content": "More?"}]
    denied = client.post(
        f"{BASE}/labels/examples/{item.id}/submit",
        json={"version": got["item"]["version"], "messages": longer},
        headers=headers,
    )
    assert denied.status_code == 403  # a new user turn is writing a prompt
    shorter = [
        *item.messages[:-1],
        {"role": "assistant", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    ok = client.post(
        f"{BASE}/labels/examples/{item.id}/submit",
        json={"version": got["item"]["version"], "messages": shorter},
        headers=headers,
    )
    assert ok.status_code == 200, ok.text


def test_pairs_come_with_an_order_and_need_a_preference(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    (pair,) = make_pairs(db, project, 1)
    headers = bearer(client, db, member)
    got = _next(client, headers, "pairs")
    assert got["item"]["id"] == pair.id
    assert sorted(got["order"]) == ["chosen", "rejected"]
    url = f"{BASE}/labels/pairs/{pair.id}/submit"
    missing = client.post(url, json={"version": pair.version, "rating": 4}, headers=headers)
    assert missing.status_code == 422 and "preference" in missing.json()["message"]
    ok = client.post(
        url, json={"version": pair.version, "rating": 4, "preference": "tie"}, headers=headers
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["label"]["preference"] == "tie"
    assert ok.json()["item"]["status"] == "submitted"


def test_skip_discard_and_label_visibility(
    client: TestClient, db: Session, project: Project, member: User, engineer: User
) -> None:
    first, second = make_examples(db, project, 2)
    headers = bearer(client, db, member)
    assert _next(client, headers)["item"]["id"] == first.id
    skipped = client.post(f"{BASE}/labels/examples/{first.id}/skip", headers=headers)
    assert skipped.status_code == 200 and skipped.json()["state"] == "skipped"
    assert _next(client, headers)["item"]["id"] == second.id
    discarded = client.post(
        f"{BASE}/labels/examples/{second.id}/discard", json={"note": "gibberish"}, headers=headers
    )
    assert discarded.status_code == 200 and discarded.json()["state"] == "discarded"
    db.expire_all()
    assert db.get(Example, second.id).status is ItemStatus.rejected  # type: ignore[union-attr]

    other = make_user(db, "other@example.com", Role.annotator)
    add_member(db, project, other, Role.annotator)
    other_headers = bearer(client, db, other)
    assert _next(client, other_headers)["item"]["id"] == first.id
    client.post(
        f"{BASE}/labels/examples/{first.id}/submit",
        json={"version": first.version, "rating": 1},
        headers=other_headers,
    )
    mine = client.get(f"{BASE}/labels", params={"kind": "examples", "item_id": first.id},
                      headers=headers)  # fmt: skip
    assert [label["user_id"] for label in mine.json()] == [member.id]
    everyone = client.get(
        f"{BASE}/labels", params={"kind": "examples", "item_id": first.id},
        headers=bearer(client, db, engineer),
    )  # fmt: skip
    assert sorted(label["user_id"] for label in everyone.json()) == sorted([member.id, other.id])
    states = db.scalars(select(Label.state).where(Label.item_id == first.id)).all()
    assert sorted(states) == sorted([LabelState.skipped, LabelState.submitted])


def test_annotator_of_another_project_gets_404(
    client: TestClient, db: Session, project: Project, engineer: User
) -> None:
    (item,) = make_examples(db, project, 1)
    stranger = make_user(db, "stranger@example.com", Role.annotator)
    elsewhere = projects.create(db, engineer, ProjectCreate(slug="elsewhere", name="Elsewhere"))
    db.commit()
    add_member(db, elsewhere, stranger, Role.annotator)
    headers = bearer(client, db, stranger)
    assert client.post(f"{BASE}/queue/examples/next", headers=headers).status_code == 404
    submit = client.post(
        f"{BASE}/labels/examples/{item.id}/submit", json={"version": 1}, headers=headers
    )
    assert submit.status_code == 404
    # and the item is not reachable through their own project either
    theirs = client.post(
        f"/api/projects/elsewhere/labels/examples/{item.id}/submit",
        json={"version": 1}, headers=headers,
    )  # fmt: skip
    assert theirs.status_code == 404


def test_cookie_sessions_need_the_csrf_header(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    make_examples(db, project, 1)
    token = login(client, member.email)
    assert client.post(f"{BASE}/queue/examples/next").status_code == 403
    response = client.post(f"{BASE}/queue/examples/next", headers={"X-CSRF-Token": token})
    assert response.status_code == 200


def test_submit_without_a_slot_when_all_are_taken_is_409(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    (item,) = make_examples(db, project, 1)
    other = make_user(db, "other@example.com", Role.annotator)
    add_member(db, project, other, Role.annotator)
    assert _next(client, bearer(client, db, other))["item"]["id"] == item.id
    response = client.post(
        f"{BASE}/labels/examples/{item.id}/submit",
        json={"version": item.version, "rating": 3},
        headers=bearer(client, db, member),
    )
    assert response.status_code == 409
    assert "not in your queue" in response.json()["message"]


def test_skipping_an_item_never_handed_out_answers_409(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    first, second = make_examples(db, project, 2)
    headers = bearer(client, db, member)
    never = client.post(f"{BASE}/labels/examples/{second.id}/skip", headers=headers)
    assert never.status_code == 409 and "never handed out" in never.json()["message"]
    assert db.scalar(select(Label).where(Label.item_id == second.id)) is None
    got = _next(client, headers)
    assert got["item"]["id"] == first.id
    skipped = client.post(f"{BASE}/labels/examples/{first.id}/skip", headers=headers)
    assert skipped.status_code == 200 and skipped.json()["state"] == "skipped"
