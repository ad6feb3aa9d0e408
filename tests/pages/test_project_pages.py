"""Project list, create form, overview and members."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, Role, User
from app.projects import service as projects
from tests.factories import Importer, add_member, chat, login


def test_create_project_form_shows_field_error_for_a_bad_slug(
    client: TestClient, engineer: User
) -> None:
    token = login(client, engineer.email)
    form = client.get("/projects/new")
    assert form.status_code == 200
    assert 'name="slug"' in form.text
    response = client.post(
        "/projects", data={"slug": "Bad Slug!", "name": "X", "csrf_token": token}
    )
    assert response.status_code == 422
    assert "use lowercase letters, digits and dashes" in response.text
    assert 'value="Bad Slug!"' in response.text  # the form keeps what was typed
    assert 'aria-invalid="true"' in response.text

    htmx = client.post(
        "/projects", data={"slug": "", "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert htmx.status_code == 422
    assert htmx.text.lstrip().startswith("<form")  # only the form, swapped in place


def test_create_project_redirects_to_its_overview(
    client: TestClient, db: Session, engineer: User
) -> None:
    token = login(client, engineer.email)
    data = {"slug": "qa-set", "name": "QA set", "guidelines": "# Be *kind*", "csrf_token": token}
    response = client.post("/projects", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/projects/qa-set"
    overview = client.get("/projects/qa-set")
    assert overview.status_code == 200
    assert "<h1>Be <em>kind</em></h1>" in overview.text  # guidelines rendered as Markdown

    again = client.post(
        "/projects", data={**data, "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert again.status_code == 422
    assert "already exists" in again.text

    htmx = client.post("/projects", data={**data, "slug": "qa-two"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 200
    assert htmx.headers["HX-Redirect"] == "/projects/qa-two"


def test_annotators_cannot_create_projects(client: TestClient, annotator: User) -> None:
    token = login(client, annotator.email)
    assert "New project" not in client.get("/projects").text
    assert client.get("/projects/new").status_code == 403
    assert client.post("/projects", data={"slug": "x", "csrf_token": token}).status_code == 403


def test_overview_shows_counts_for_members_and_404_for_others(
    client: TestClient,
    db: Session,
    engineer: User,
    annotator: User,
    project: Project,
    import_rows: Importer,
) -> None:
    import_rows(
        project, [chat("one"), chat("two"), {"messages": [{"role": "user", "content": "open"}]}]
    )
    login(client, engineer.email)
    page = client.get("/projects/demo")
    assert page.status_code == 200
    assert "Examples" in page.text
    assert "needs response" in page.text
    assert "/projects/demo/import" in page.text
    assert "eng@example.com" in page.text
    listing = client.get("/projects")
    assert "/projects/demo" in listing.text

    client.cookies.clear()
    login(client, annotator.email)
    assert client.get("/projects/demo").status_code == 404
    assert "/projects/demo" not in client.get("/projects").text


def test_manager_adds_a_member(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project
) -> None:
    token = login(client, engineer.email)
    bad = client.post(
        "/projects/demo/members",
        data={"email": "ghost@example.com", "role": "annotator", "csrf_token": token},
    )
    assert bad.status_code == 422
    assert "no user with email" in bad.text
    ok = client.post(
        "/projects/demo/members",
        data={"email": annotator.email, "role": "reviewer", "csrf_token": token},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert (annotator, Role.reviewer) in projects.members(db, project)
    # with htmx the refreshed members card comes back (a redirect to the same page and
    # #members did not reload it)
    swapped = client.post(
        "/projects/demo/members",
        data={"email": annotator.email, "role": "annotator", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert swapped.status_code == 200 and "HX-Redirect" not in swapped.headers
    assert swapped.text.lstrip().startswith('<section class="card" id="members">')
    assert re.search(rf"{re.escape(annotator.email)}.*?annotator</span>", swapped.text, re.S)


def test_members_without_manage_role_cannot_add_members(
    client: TestClient, db: Session, annotator: User, admin: User, project: Project
) -> None:
    add_member(db, project, annotator, Role.annotator)
    token = login(client, annotator.email)
    page = client.get("/projects/demo")
    assert page.status_code == 200
    assert 'action="/projects/demo/members"' not in page.text
    response = client.post(
        "/projects/demo/members",
        data={"email": admin.email, "role": "engineer", "csrf_token": token},
    )
    assert response.status_code == 403
