"""The project settings page: the labeling and review rules, with field errors, CSRF and the
manager-only policy."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, Role, User
from app.projects.pages import split_tags
from tests.factories import ESCAPED, XSS, add_member, login, make_user

PAGE = "/projects/demo/settings"


def form(token: str, **changes: Any) -> dict[str, Any]:
    values = {
        "name": "Demo",
        "description": "",
        "guidelines": "",
        "system_prompt": "",
        "chat_template": "chatml",
        "min_submissions": "1",
        "approvals_required": "1",
        "label_tags": "",
        "csrf_token": token,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def test_manager_updates_the_labeling_rules(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    token = login(client, engineer.email)
    overview = client.get("/projects/demo")
    assert f'href="{PAGE}"' in overview.text  # linked for managers
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'name="min_submissions" type="number" value="1"' in page.text
    assert f'value="{token}"' in page.text

    data = form(
        token,
        name="Renamed",
        guidelines="# Rate *carefully*",
        chat_template="llama3",
        min_submissions="3",
        approvals_required="2",
        annotators_edit_prompts="on",
        label_tags="factual, tone\n  code \n\ntone,",
    )
    response = client.post(PAGE, data=data, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}?saved=1"
    db.refresh(project)
    assert project.name == "Renamed"
    assert project.chat_template == "llama3"
    assert (project.min_submissions, project.approvals_required) == (3, 2)
    assert project.annotators_edit_prompts is True
    assert project.label_tags == ["factual", "tone", "code"]
    saved = client.get(f"{PAGE}?saved=1").text
    assert "Settings saved." in saved
    assert ">factual\ntone\ncode</textarea>" in saved
    assert 'name="annotators_edit_prompts" checked' in saved
    assert "3 labels per item · 2 approvals to approve" in client.get("/projects/demo").text

    # an unchecked box is not sent: the setting goes back off; htmx gets HX-Redirect
    again = client.post(PAGE, data=form(token, min_submissions="3"), headers={"HX-Request": "true"})
    assert again.status_code == 200
    assert again.headers["HX-Redirect"] == f"{PAGE}?saved=1"
    db.refresh(project)
    assert project.annotators_edit_prompts is False
    assert project.label_tags == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_submissions", "0", "greater than or equal to 1"),
        ("min_submissions", "many", "valid integer"),
        ("approvals_required", "11", "less than or equal to 10"),
        ("chat_template", "nope", "unknown chat template"),
        ("label_tags", "ok\n" + "x" * 101, "longer than 100 characters"),
        ("name", "n" * 201, "at most 200 characters"),
    ],
)
def test_bad_values_come_back_with_a_field_error(
    client: TestClient,
    db: Session,
    engineer: User,
    project: Project,
    field: str,
    value: str,
    message: str,
) -> None:
    token = login(client, engineer.email)
    # the other fields are fine (min_submissions 2 unless it is the bad one): nothing is saved
    response = client.post(PAGE, data=form(token, **{"min_submissions": "2", field: value}))
    assert response.status_code == 422
    assert message in response.text
    assert f'aria-describedby="{field}-error"' in response.text
    assert f'<p class="field-error" id="{field}-error">' in response.text
    db.refresh(project)
    assert project.min_submissions == 1  # nothing saved
    assert project.name == "Demo"
    htmx = client.post(PAGE, data=form(token, **{field: value}), headers={"HX-Request": "true"})
    assert htmx.status_code == 422
    assert htmx.text.lstrip().startswith("<form")  # only the form, swapped in place


def test_needs_csrf_and_the_manager_role(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project
) -> None:
    login(client, engineer.email)
    no_token = client.post(PAGE, data=form("", min_submissions="4"))
    assert no_token.status_code == 403
    assert client.post(PAGE, data=form("forged", min_submissions="4")).status_code == 403
    db.refresh(project)
    assert project.min_submissions == 1

    client.cookies.clear()
    reviewer = make_user(db, "rev@example.com", Role.reviewer)
    add_member(db, project, annotator, Role.annotator)
    add_member(db, project, reviewer, Role.reviewer)
    for user in (annotator, reviewer):
        token = login(client, user.email)
        assert client.get(PAGE).status_code == 403
        assert client.post(PAGE, data=form(token, min_submissions="4")).status_code == 403
        assert f'href="{PAGE}"' not in client.get("/projects/demo").text
        client.cookies.clear()
    db.refresh(project)
    assert project.min_submissions == 1


def test_user_text_is_escaped(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    token = login(client, engineer.email)
    data = form(token, name=XSS, description=XSS, label_tags=f"{XSS}\nplain")
    assert client.post(PAGE, data=data, follow_redirects=False).status_code == 303
    db.refresh(project)
    assert project.label_tags == [XSS, "plain"]
    for url in (PAGE, "/projects/demo", "/projects/demo/dashboard", "/projects/demo/agreement"):
        html = client.get(url).text
        assert XSS not in html, url
        assert ESCAPED in html, url
    overview = client.get("/projects/demo").text
    assert f'<span class="tag">{ESCAPED}</span>' in overview


def test_split_tags() -> None:
    assert split_tags("a, b\nc,,\n d ") == ["a", " b", "c", " d "]
    assert split_tags("") == []
