"""Labeling pages through the real app: start page, the labeling view (plain form posts),
conflict view, drafts restored, pairs shown as A/B, and the import's pending option."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.labeling import service
from app.models import (
    Example,
    ItemStatus,
    Label,
    LabelState,
    PreferencePair,
    Project,
    Review,
    ReviewDecision,
    Revision,
    Role,
    User,
)
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from tests.factories import (
    add_member,
    bearer,
    conversation,
    login,
    make_example,
    make_examples,
    make_pairs,
    make_user,
)

START = "/projects/demo/label"
CODE_ANSWER = "Use a loop:\n\n```python\nfor i in range(3):\n    print(i)\n```"
XSS = (
    "<script>alert(1)</script> <img src=x onerror=alert(1)> "
    '<div hx-get="/logout" hx-trigger="load">x</div>'
)


@pytest.fixture
def member(db: Session, project: Project, annotator: User) -> User:
    add_member(db, project, annotator, Role.annotator)
    return annotator


def _open_next(client: TestClient, token: str, kind: str = "examples") -> str:
    response = client.post(f"{START}/{kind}/next", data={"csrf_token": token},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def _form(url: str, token: str, **fields: object) -> dict[str, object]:
    return {"csrf_token": token, **fields}


def test_start_page_counts_and_buttons(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    project.guidelines = "Prefer **short** answers."
    db.commit()
    items = make_examples(db, project, 3)
    token = login(client, member.email)
    page = client.get(START)
    assert page.status_code == 200
    assert "Label examples" in page.text and "Label pairs" in page.text
    assert "<strong>short</strong>" in page.text
    assert re.search(r'data-count="waiting">3<', page.text)
    location = _open_next(client, token)
    assert location == f"{START}/examples/{items[0].id}"
    # nothing left among pairs: back to the start page, which says so
    empty = _open_next(client, token, "pairs")
    assert empty == f"{START}?empty=pairs"
    assert "Nothing left to label in pairs" in client.get(empty).text


def test_view_renders_turns_safely_with_highlighted_code(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    project.guidelines = "Check the *code*."
    db.commit()
    item = make_example(db, project, conversation(XSS, CODE_ANSWER, system="Be brief."))
    login(client, member.email)
    page = client.get(f"{START}/examples/{item.id}")
    assert page.status_code == 200
    text = page.text
    assert "<details" in text and "<em>code</em>" in text  # collapsible guidelines
    assert "<script>alert(1)</script>" not in text
    assert "<img src=x" not in text and '<div hx-get="/logout"' not in text
    assert html.escape("<script>alert(1)</script>", quote=False) in text
    assert '<span class="hl-k">for</span>' in text  # server-side highlighting
    assert "/static/highlight.css" in text and "/static/labeling.js" in text
    # annotators edit assistant turns; system and user turns are read only here
    assert re.search(r'name="content_2"[^>]*data-role="assistant"\s*>', text)
    assert re.search(r'name="content_1"[^>]*data-role="user" readonly>', text)
    assert 'name="rating" value="5"' in text


def test_submit_form_saves_the_label_and_goes_to_the_next_item(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    project.label_tags = ["factual", "verbose"]
    db.commit()
    first, second = make_examples(db, project, 2)
    token = login(client, member.email)
    url = _open_next(client, token)
    fields = {
        "csrf_token": token, "action": "submit", "version": str(first.version), "edited": "1",
        "turn": ["0", "1"], "src_0": "0", "src_1": "1", "role_0": "user",
        "role_1": "assistant", "content_0": "Question 0?", "content_1": "Edited\r\nanswer.",
        "rating": "4", "tags": ["factual", "verbose"], "note": "two lines\r\nof note",
    }  # fmt: skip
    response = client.post(url, data=fields, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == (
        f"{START}/examples/{second.id}?done=submitted&prev={first.id}"
    )
    db.expire_all()
    label = db.scalar(select(Label).where(Label.item_id == first.id))
    assert label is not None and label.state is LabelState.submitted
    assert (label.rating, label.tags, label.note) == (
        4,
        ["factual", "verbose"],
        "two lines\nof note",
    )
    example = db.get(Example, first.id)
    assert example is not None and example.status is ItemStatus.submitted
    assert example.messages[-1]["content"] == "Edited\nanswer."  # CRLF from the textarea


def test_untouched_turns_are_not_an_edit(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    (item,) = make_examples(db, project, 1)
    token = login(client, member.email)
    url = _open_next(client, token)
    response = client.post(url, data={
        "csrf_token": token, "action": "submit", "version": str(item.version), "edited": "1",
        "turn": ["0", "1"], "src_0": "0", "src_1": "1", "content_0": "Question 0?",
        "content_1": "Answer 0.", "rating": "2",
    }, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    actions = db.scalars(select(Revision.action).where(Revision.item_id == item.id)).all()
    assert actions == ["submit"]  # the same text posted back is no edit


def test_the_page_form_needs_the_csrf_token(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    (item,) = make_examples(db, project, 1)
    token = login(client, member.email)
    url = _open_next(client, token)
    response = client.post(url, data={"action": "submit", "version": "1", "rating": "5"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 403
    assert client.post(f"{START}/examples/next", follow_redirects=False).status_code == 403
    db.expire_all()
    assert db.scalar(select(Label.state).where(Label.item_id == item.id)) is LabelState.draft


def test_conflict_page_shows_both_versions_and_keep_mine_saves(
    client: TestClient, db: Session, project: Project, member: User, engineer: User
) -> None:
    (item,) = make_examples(db, project, 1)
    token = login(client, member.email)
    url = _open_next(client, token)
    theirs_text = "Theirs: <b>bold</b> answer"
    patched = client.patch(
        f"/api/projects/demo/examples/{item.id}",
        json={"version": item.version, "messages": conversation("Question 0?", theirs_text)},
        headers=bearer(client, db, engineer),
    )
    assert patched.status_code == 200
    mine_text = "Mine: <i>better</i>\nanswer"
    response = client.post(url, data={
        "csrf_token": token, "action": "submit", "version": str(item.version), "edited": "1",
        "turn": ["0", "1"], "src_0": "0", "src_1": "1", "content_0": "Question 0?",
        "content_1": mine_text, "rating": "5", "note": "mine",
    }, follow_redirects=False)  # fmt: skip
    assert response.status_code == 409
    page = response.text
    assert (
        html.escape(theirs_text, quote=False) in page
        and html.escape(mine_text, quote=False) in page
    )
    assert "<b>bold</b>" not in page and "<i>better</i>" not in page
    assert "Keep mine" in page and "Take theirs" in page
    keep = re.search(r'<form[^>]*id="keep-mine">(.*?)</form>', page, re.S)
    assert keep is not None
    version = re.search(r'name="version" value="(\d+)"', keep.group(1))
    mine_json = re.search(r'name="messages_json"[^>]*>\n(.*?)</textarea>', keep.group(1), re.S)
    assert version and mine_json and int(version.group(1)) == patched.json()["version"]
    kept = client.post(url, data={
        "csrf_token": token, "action": "submit", "version": version.group(1), "edited": "1",
        "messages_json": html.unescape(mine_json.group(1)), "rating": "5", "note": "mine",
    }, follow_redirects=False)  # fmt: skip
    assert kept.status_code == 303, kept.text
    db.expire_all()
    example = db.get(Example, item.id)
    assert example is not None and example.messages[-1]["content"] == mine_text
    label = db.scalar(select(Label).where(Label.item_id == item.id))
    assert label is not None and label.state is LabelState.submitted and label.rating == 5


def test_take_theirs_drops_the_autosaved_edits(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    (item,) = make_examples(db, project, 1)
    token = login(client, member.email)
    url = _open_next(client, token)
    turns = [
        {"src": 0, "role": "user", "content": "Question 0?"},
        {"src": 1, "role": "assistant", "content": "Draft text"},
    ]
    draft = {"edited": True, "turns": turns}
    saved = client.put(
        f"/api/projects/demo/labels/examples/{item.id}/draft",
        json={"version": item.version, "draft": draft, "rating": 3, "note": "draft note"},
        headers={"X-CSRF-Token": token},
    )
    assert saved.status_code == 200, saved.text
    restored = client.get(url).text
    assert "Draft text" in restored and "were restored" in restored
    assert 'value="3" checked' in restored and "draft note" in restored
    assert 'class="label-form editing"' in restored
    response = client.post(url, data={"csrf_token": token, "action": "take_theirs"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == url
    fresh = client.get(url).text
    assert "Draft text" not in fresh and "Answer 0." in fresh
    assert 'value="3" checked' in fresh  # the rating stays


def test_other_projects_annotator_gets_404(
    client: TestClient, db: Session, project: Project, engineer: User
) -> None:
    (item,) = make_examples(db, project, 1)
    stranger = make_user(db, "stranger@example.com", Role.annotator)
    elsewhere = projects.create(db, engineer, ProjectCreate(slug="elsewhere", name="Elsewhere"))
    db.commit()
    add_member(db, elsewhere, stranger, Role.annotator)
    token = login(client, stranger.email)
    assert client.get(START).status_code == 404
    assert client.get(f"{START}/examples/{item.id}").status_code == 404
    post = client.post(f"{START}/examples/{item.id}", data={"csrf_token": token, "action": "skip"})
    assert post.status_code == 404
    assert client.get(f"/projects/elsewhere/label/examples/{item.id}").status_code == 404


def test_pair_view_shows_a_and_b_and_maps_the_choice(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    (pair,) = make_pairs(db, project, 1)
    token = login(client, member.email)
    url = _open_next(client, token, "pairs")
    page = client.get(url).text
    order = service.pair_order(member.id, pair.id)
    a_text = getattr(pair, order[0])[0]["content"]
    b_text = getattr(pair, order[1])[0]["content"]
    assert page.index("Response A") < page.index(a_text) < page.index("Response B")
    assert page.index("Response B") < page.index(b_text)
    assert "Prompt 0" in page and "Chosen" not in page and "Rejected" not in page
    missing = client.post(url, data={"csrf_token": token, "action": "submit",
                                     "version": str(pair.version), "rating": "4"})  # fmt: skip
    assert missing.status_code == 422 and "which response is better" in missing.text
    done = client.post(url, data={"csrf_token": token, "action": "submit",
                                  "version": str(pair.version), "choice": "b", "rating": "4"},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    label = db.scalar(select(Label).where(Label.item_id == pair.id, Label.item_kind == "pair"))
    assert label is not None and label.preference is not None
    assert label.preference.value == order[1]  # "B better" means B's stored side
    db.expire_all()
    assert db.get(PreferencePair, pair.id).status is ItemStatus.submitted  # type: ignore[union-attr]


def test_sent_back_item_shows_the_reviewers_comment(
    client: TestClient, db: Session, project: Project, member: User, engineer: User
) -> None:
    (item,) = make_examples(db, project, 1)
    token = login(client, member.email)
    url = _open_next(client, token)
    client.post(url, data={"csrf_token": token, "action": "submit", "version": "1", "rating": "3"})
    db.expire_all()
    example = db.get(Example, item.id)
    assert example is not None and example.status is ItemStatus.submitted
    example.status = ItemStatus.needs_revision
    label = db.scalar(select(Label).where(Label.item_id == item.id))
    assert label is not None
    label.state = LabelState.returned
    db.add(Review(project_id=project.id, item_kind="example", item_id=item.id,
                  user_id=engineer.id, decision=ReviewDecision.needs_revision,
                  comment="Cite <a source>.", content_hash=example.content_hash,
                  item_version=example.version))  # fmt: skip
    db.commit()
    assert _open_next(client, token) == url
    page = client.get(url).text
    assert "Sent back by a reviewer" in page and "Cite &lt;a source&gt;." in page


def test_import_form_offers_pending_and_pending_rows_enter_the_queue(
    client: TestClient,
    db: Session,
    project: Project,
    engineer: User,
    member: User,
    run_jobs: Callable[[], list[int]],
) -> None:
    token = login(client, engineer.email)
    form = client.get("/projects/demo/import")
    assert 'value="draft"' in form.text and "pending (labeling queue)" in form.text
    rows = [{"messages": conversation(f"Q{i}?", f"A{i}.")} for i in range(3)]
    response = client.post(
        "/projects/demo/import",
        data={"csrf_token": token, "status": "draft"},
        files={
            "file": ("data.jsonl", "".join(json.dumps(r) + "\n" for r in rows), "application/jsonl")
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    run_jobs()
    db.expire_all()
    statuses = db.scalars(select(Example.status).where(Example.project_id == project.id)).all()
    assert statuses == [ItemStatus.draft] * 3
    got = client.post("/api/projects/demo/queue/examples/next", headers=bearer(client, db, member))
    assert got.status_code == 200 and got.json()["item"]["messages"][0]["content"] == "Q0?"


def test_sent_back_pair_is_resubmitted_through_the_page_after_an_edit(
    client: TestClient, db: Session, project: Project, member: User, engineer: User
) -> None:
    from app.models import ItemKind
    from app.pairs import service as pairs
    from app.pairs.schemas import PairUpdate
    from app.review import service as review

    (pair,) = make_pairs(db, project, 1)
    token = login(client, member.email)
    url = _open_next(client, token, "pairs")
    fields = {"csrf_token": token, "action": "submit", "version": str(pair.version),
              "choice": "a", "rating": "4"}  # fmt: skip
    assert client.post(url, data=fields, follow_redirects=False).status_code == 303
    db.expire_all()
    pair = db.get(PreferencePair, pair.id)  # type: ignore[assignment]
    edited = pairs.update(db, project, pair.id, engineer, PairUpdate(
        version=pair.version, chosen=[{"role": "assistant", "content": "Sharper."}]))  # fmt: skip
    review.decide(db, project, engineer, ItemKind.pair, pair.id, ReviewDecision.needs_revision,
                  "Compare again.", edited.version)  # fmt: skip
    db.commit()
    again = _open_next(client, token, "pairs")
    assert again == url
    page = client.get(again).text
    assert "Compare again." in page and "already submitted" not in page
    fields = {**fields, "version": str(edited.version), "choice": "b"}
    done = client.post(url, data=fields, follow_redirects=False)
    assert done.status_code == 303, done.text
    db.expire_all()
    assert db.get(PreferencePair, pair.id).status is ItemStatus.submitted  # type: ignore[union-attr]


def test_the_same_submit_posted_twice_goes_on_instead_of_failing(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    _first, second = make_examples(db, project, 2)
    token = login(client, member.email)
    url = _open_next(client, token)
    fields = {"csrf_token": token, "action": "submit", "version": "1", "rating": "3"}
    one = client.post(url, data=fields, follow_redirects=False)
    two = client.post(url, data=fields, follow_redirects=False)
    assert one.status_code == two.status_code == 303
    assert two.headers["location"].startswith(f"{START}/examples/{second.id}?done=submitted")
    assert "already submitted" not in client.get(two.headers["location"]).text
