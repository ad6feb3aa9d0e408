"""Membership: nobody grants a role above their own or changes someone above them; members can
be removed (point 8 of the hardening issue)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, Role, User
from app.projects import service as projects
from tests.factories import add_member, bearer, login, make_user

MEMBERS = "/api/projects/demo/members"


def _roles(db: Session, project: Project) -> dict[str, Role]:
    db.expire_all()
    return {user.email: role for user, role in projects.members(db, project)}


def test_an_engineer_grants_up_to_engineer_and_never_admin(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project
) -> None:
    headers = bearer(client, db, engineer)
    admin_grant = client.put(MEMBERS, json={"email": annotator.email, "role": "admin"},
                             headers=headers)  # fmt: skip
    assert admin_grant.status_code == 422 and "global role" in admin_grant.json()["message"]
    ok = client.put(MEMBERS, json={"email": annotator.email, "role": "engineer"}, headers=headers)
    assert ok.status_code == 200, ok.text
    assert _roles(db, project)[annotator.email] is Role.engineer


def test_nobody_grants_above_their_own_role(
    client: TestClient, db: Session, project: Project, annotator: User
) -> None:
    # A reviewer cannot reach the members route at all; an engineer can (see above). Between
    # those, the rule itself: an engineer member whose global role is lower still manages here.
    lead = make_user(db, "lead@example.com", Role.reviewer)
    add_member(db, project, lead, Role.engineer)
    headers = bearer(client, db, lead)
    response = client.put(MEMBERS, json={"email": annotator.email, "role": "admin"},
                          headers=headers)  # fmt: skip
    assert response.status_code == 422
    reviewer = make_user(db, "rev@example.com", Role.reviewer)
    add_member(db, project, reviewer, Role.reviewer)
    denied = client.put(MEMBERS, json={"email": annotator.email, "role": "reviewer"},
                        headers=bearer(client, db, reviewer))  # fmt: skip
    assert denied.status_code == 403


def test_an_engineer_cannot_demote_or_remove_an_admin(
    client: TestClient, db: Session, engineer: User, admin: User, project: Project
) -> None:
    add_member(db, project, admin, Role.engineer)
    headers = bearer(client, db, engineer)
    demote = client.put(MEMBERS, json={"email": admin.email, "role": "annotator"}, headers=headers)
    assert demote.status_code == 403 and "above your own role" in demote.json()["message"]
    remove = client.delete(f"{MEMBERS}/{admin.id}", headers=headers)
    assert remove.status_code == 403
    assert _roles(db, project)[admin.email] is Role.engineer
    # An admin can do both.
    admin_headers = bearer(client, db, admin)
    other = make_user(db, "other@example.com", Role.annotator)
    add_member(db, project, other, Role.engineer)
    assert client.delete(f"{MEMBERS}/{other.id}", headers=admin_headers).status_code == 204
    assert other.email not in _roles(db, project)


def test_members_can_be_removed_by_api_and_page(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project
) -> None:
    add_member(db, project, annotator, Role.annotator)
    headers = bearer(client, db, engineer)
    assert client.delete(f"{MEMBERS}/{annotator.id}", headers=headers).status_code == 204
    assert annotator.email not in _roles(db, project)
    assert client.delete(f"{MEMBERS}/{annotator.id}", headers=headers).status_code == 404
    # The page's remove button.
    add_member(db, project, annotator, Role.reviewer)
    token = login(client, engineer.email)
    page = client.get("/projects/demo")
    assert f"/projects/demo/members/{annotator.id}/remove" in page.text
    removed = client.post(f"/projects/demo/members/{annotator.id}/remove",
                          data={"csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert removed.status_code == 303
    assert annotator.email not in _roles(db, project)
    # A removed member no longer sees the project.
    assert (
        client.get("/api/projects/demo", headers=bearer(client, db, annotator)).status_code == 404
    )
