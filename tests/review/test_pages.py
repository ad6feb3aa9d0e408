"""Review pages: the queue, the review view of an example and of a pair (keys, labels, diffs,
edit in place with its conflict view), bulk confirmation, the pair-from-example page, revert on
the detail pages, and escaping of item text everywhere."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.models import ItemKind, ItemStatus, LabelState, Preference, Project, Revision, User
from tests.factories import (
    XSS_PAYLOADS,
    Importer,
    add_label,
    bearer,
    chat,
    examples_of,
    login,
    pair_record,
    pairs_of,
)


def _no_raw_payload(page: str) -> None:
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert re.search(r'<[^>]*hx-get="/logout"', page) is None


def test_queue_page_lists_and_filters_submitted_items(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [chat("What is <b>bold</b>?")])
    seed(project, [pair_record("Pick a fruit")], source="synthetic")
    seed(project, [chat("still pending")], status="draft")
    token = login(client, reviewer.email)
    assert token
    page = client.get("/projects/demo/review")
    assert page.status_code == 200
    assert "2 items waiting" in page.text
    assert "What is &lt;b&gt;bold&lt;/b&gt;?" in page.text
    assert "Pick a fruit" in page.text and "still pending" not in page.text
    [item] = pairs_of(db, project)
    assert f"/projects/demo/review/pair/{item.id}" in page.text
    table = client.get("/projects/demo/review?source=synthetic", headers={"HX-Request": "true"})
    assert table.text.lstrip().startswith('<div id="review-table"')
    assert "Pick a fruit" in table.text and "bold" not in table.text
    assert client.get("/projects/demo/review?min_rating=9").status_code == 422


def test_review_pages_are_for_reviewers_only(
    client: TestClient, db: Session, project: Project, member: User, seed: Importer
) -> None:
    seed(project, [pair_record("p")])
    [item] = pairs_of(db, project)
    login(client, member.email)
    assert client.get("/projects/demo/review").status_code == 403
    assert client.get(f"/projects/demo/review/pair/{item.id}").status_code == 403
    assert 'href="/projects/demo/review"' not in client.get("/projects/demo/pairs").text


def test_pair_review_view_labels_the_sides_and_offers_the_keys(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    seed(project, [pair_record("Shared prompt text", "The chosen text", "The rejected text")])
    [item] = pairs_of(db, project)
    add_label(
        db,
        project,
        ItemKind.pair,
        item.id,
        member,
        preference=Preference.chosen,
        note="clearly better",
        tags=["concise"],
    )
    login(client, reviewer.email)
    page = client.get(f"/projects/demo/review/pair/{item.id}")
    assert page.status_code == 200
    text = page.text
    assert text.index("Shared prompt text") < text.index("Chosen") < text.index("The chosen text")
    assert text.index("The chosen text") < text.index("Rejected") < text.index("The rejected text")
    for key in ("a", "r", "x", "n"):
        assert f'data-review-key="{key}"' in text
    assert '<script src="/static/review.js' in text
    assert 'id="review-shortcuts"' in text
    assert "chosen 1" in text and "rejected 0" in text and "tie 0" in text
    assert "clearly better" in text and "concise" in text and "12 s" in text
    assert "ann@example.com" in text
    assert "0 of 1 approval" in text
    assert "onclick" not in text


def test_approve_from_the_page_and_the_own_work_rule(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    seed: Importer,
) -> None:
    seed(project, [chat("approve me"), chat("edited by the reviewer")])
    first, second = examples_of(db, project)
    examples.update(db, project, second.id, reviewer, ExampleUpdate(version=1, rating=2))
    db.commit()
    token = login(client, reviewer.email)
    form = {"csrf_token": token, "decision": "approve", "version": "1"}
    response = client.post(
        f"/projects/demo/review/example/{first.id}/decide?kind=example",
        data={**form, "stay": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/projects/demo/review/example/{first.id}?kind=example&done=approve"
    )
    db.expire_all()
    assert examples_of(db, project)[0].status is ItemStatus.approved
    assert "Approved." in client.get(response.headers["location"]).text

    view = client.get(f"/projects/demo/review/example/{second.id}")
    assert "You edited example" in view.text
    assert re.search(r'value="approve"[^>]*disabled', view.text)
    refused = client.post(
        f"/projects/demo/review/example/{second.id}/decide", data={**form, "version": "2"}
    )
    assert refused.status_code == 403
    assert "you edited example" in refused.text

    back = client.post(
        f"/projects/demo/review/example/{second.id}/decide",
        data={**form, "decision": "needs_revision", "version": "2"},
    )
    assert back.status_code == 422 and "needs a comment" in back.text
    no_csrf = client.post(
        f"/projects/demo/review/example/{second.id}/decide",
        data={"decision": "reject", "version": "2"},
    )
    assert no_csrf.status_code == 403


def test_example_review_view_shows_labels_and_diffs(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    seed(project, [chat("Explain tides", "The moon pulls the sea.")])
    [item] = examples_of(db, project)
    add_label(db, project, ItemKind.example, item.id, member, rating=2, note="a bit thin")
    edited = [item.messages[0], {"role": "assistant", "content": "The moon and sun pull the sea."}]
    examples.update(db, project, item.id, member, ExampleUpdate(version=1, messages=edited))
    db.commit()
    login(client, reviewer.email)
    page = client.get(f"/projects/demo/review/example/{item.id}")
    assert page.status_code == 200
    assert "a bit thin" in page.text and "submitted" in page.text
    assert "turn 2 · assistant · changed" in page.text
    assert "The moon <del>pulls</del><ins>and sun pull</ins> the sea." in page.text


def test_edit_a_response_in_place_and_the_conflict_view(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [pair_record("Greet me", "Hello!", "Go away.")])
    [item] = pairs_of(db, project)
    token = login(client, reviewer.email)
    url = f"/projects/demo/review/pair/{item.id}/edit"
    saved = client.post(
        url,
        data={
            "csrf_token": token,
            "side": "rejected",
            "version": "1",
            "content": "Go away,\r\nplease.",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    db.expire_all()
    assert pairs_of(db, project)[0].rejected[0]["content"] == "Go away,\nplease."

    stale = client.post(
        url,
        data={"csrf_token": token, "side": "rejected", "version": "1", "content": "Leave <now>"},
    )
    assert stale.status_code == 409
    assert "Both versions of the rejected response" in stale.text
    assert "Leave &lt;now&gt;" in stale.text and "Go away,\nplease." in stale.text
    assert "Keep mine" in stale.text and "Take theirs" in stale.text
    keep = client.post(
        url,
        data={"csrf_token": token, "side": "rejected", "version": "2", "content": "Leave <now>"},
        follow_redirects=False,
    )
    assert keep.status_code == 303
    db.expire_all()
    assert pairs_of(db, project)[0].rejected[0]["content"] == "Leave <now>"


def test_swap_from_the_page(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [pair_record("Swap me", "left", "right")])
    [item] = pairs_of(db, project)
    token = login(client, reviewer.email)
    response = client.post(
        f"/projects/demo/review/pair/{item.id}/swap",
        data={"csrf_token": token, "version": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    db.expire_all()
    assert pairs_of(db, project)[0].chosen[0]["content"] == "right"
    stale = client.post(
        f"/projects/demo/review/pair/{item.id}/swap", data={"csrf_token": token, "version": "1"}
    )
    assert stale.status_code == 409 and "changed since you loaded it" in stale.text


def test_next_goes_through_the_queue_skipping_own_work(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [pair_record(f"p{i}") for i in range(3)])
    a, b, c = pairs_of(db, project)
    add_label(db, project, ItemKind.pair, b.id, reviewer, preference=Preference.tie)
    login(client, reviewer.email)
    go = client.get(
        f"/projects/demo/review/next?kind=pair&from=pair-{a.id}", follow_redirects=False
    )
    assert go.status_code == 303
    assert go.headers["location"] == f"/projects/demo/review/pair/{c.id}?kind=pair"
    wrap = client.get(f"/projects/demo/review/next?from=pair-{c.id}", follow_redirects=False)
    assert wrap.headers["location"] == f"/projects/demo/review/pair/{a.id}"
    bearer_headers = bearer(client, db, reviewer)
    for item in (a, c):
        client.post(
            f"/api/projects/demo/review/pair/{item.id}",
            json={"decision": "approve", "version": 1},
            headers=bearer_headers,
        )
    empty = client.get("/projects/demo/review/next", follow_redirects=False)
    assert empty.headers["location"] == "/projects/demo/review?done=empty"
    assert "Nothing left for you to review" in client.get(empty.headers["location"]).text


def test_bulk_from_the_page_confirms_the_count(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [chat(f"bulk {i}") for i in range(3)])
    first = examples_of(db, project)[0]
    examples.update(db, project, first.id, reviewer, ExampleUpdate(version=1, rating=1))
    db.commit()
    token = login(client, reviewer.email)
    step1 = client.post(
        "/projects/demo/review/bulk",
        data={"csrf_token": token, "action": "approve", "kind": "example"},
    )
    assert step1.status_code == 200
    assert '<span id="bulk-count">3</span>' in step1.text
    assert 'name="expected_count" value="3"' in step1.text and "Approve all 3" in step1.text
    seed(project, [chat("late arrival")])
    step2 = client.post(
        "/projects/demo/review/bulk",
        data={"csrf_token": token, "action": "approve", "kind": "example", "expected_count": "3"},
    )
    assert step2.status_code == 409
    assert "4 items match this filter now" in step2.text
    assert 'name="expected_count" value="4"' in step2.text
    db.expire_all()
    assert {e.status for e in examples_of(db, project)} == {ItemStatus.submitted}
    step3 = client.post(
        "/projects/demo/review/bulk",
        data={"csrf_token": token, "action": "approve", "kind": "example", "expected_count": "4"},
    )
    assert step3.status_code == 200
    assert "Approved 3 of 4" in step3.text and "you edited it" in step3.text


def test_create_a_pair_from_an_example_page(
    client: TestClient, db: Session, project: Project, member: User, seed: Importer
) -> None:
    seed(project, [chat("Tell me a joke", "Why did the chicken cross the road?")])
    [example] = examples_of(db, project)
    token = login(client, member.email)
    detail = client.get(f"/projects/demo/examples/{example.id}")
    assert "Create a preference pair" in detail.text
    url = f"/projects/demo/examples/{example.id}/pair/new"
    form = client.get(url)
    assert form.status_code == 200
    assert "Tell me a joke" in form.text and "Why did the chicken" in form.text
    assert 'value="original"' in form.text and 'value="alternative"' in form.text
    missing = client.post(url, data={"csrf_token": token, "alternative": "A pun."})
    assert missing.status_code == 422 and "say which response is better" in missing.text
    assert "A pun." in missing.text
    created = client.post(
        url,
        data={"csrf_token": token, "alternative": "A pun.\r\nHa.", "better": "alternative"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    [item] = pairs_of(db, project)
    assert created.headers["location"] == f"/projects/demo/pairs/{item.id}?created=1"
    assert item.chosen == [{"role": "assistant", "content": "A pun.\nHa."}]
    shown = client.get(created.headers["location"])
    assert "Pair created" in shown.text and "A pun." in shown.text
    again = client.post(
        url, data={"csrf_token": token, "alternative": "A pun.\nHa.", "better": "alternative"}
    )
    assert again.status_code == 409 and f"pair {item.id} already holds" in again.text


def test_detail_pages_show_diffs_and_revert_for_reviewers(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    seed(project, [chat("Question", "Answer one")])
    [item] = examples_of(db, project)
    url = f"/projects/demo/examples/{item.id}"
    edited = [item.messages[0], {"role": "assistant", "content": "Answer two"}]
    examples.update(db, project, item.id, member, ExampleUpdate(version=1, messages=edited))
    examples.update(db, project, item.id, member, ExampleUpdate(version=2, rating=5))
    db.commit()
    first = db.scalars(select(Revision).where(Revision.item_id == item.id).order_by(Revision.id))
    first_id = next(iter(first)).id

    login(client, member.email)
    as_annotator = client.get(url)
    assert "turn 2 · assistant · changed" in as_annotator.text
    assert "Revert to" not in as_annotator.text
    client.cookies.clear()

    token = login(client, reviewer.email)
    page = client.get(url)
    assert "Revert to v2" in page.text and "Restore the original" in page.text
    stale = client.post(
        f"{url}/revert", data={"csrf_token": token, "revision_id": str(first_id), "version": "2"}
    )
    assert stale.status_code == 409 and "changed since you loaded it" in stale.text
    done = client.post(
        f"{url}/revert",
        data={"csrf_token": token, "revision_id": str(first_id), "version": "3", "before": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    db.expire_all()
    restored = examples_of(db, project)[0]
    assert restored.messages[1]["content"] == "Answer one" and restored.rating is None
    assert "revert" in client.get(url).text


def test_every_review_page_shows_item_text_as_text(
    client: TestClient,
    db: Session,
    project: Project,
    reviewer: User,
    member: User,
    seed: Importer,
) -> None:
    payload = " ".join(XSS_PAYLOADS)
    seed(project, [chat(payload, payload)])
    seed(project, [pair_record(payload, payload, "plain " + XSS_PAYLOADS[0])])
    [example] = examples_of(db, project)
    [item] = pairs_of(db, project)
    add_label(
        db,
        project,
        ItemKind.pair,
        item.id,
        member,
        note=payload,
        tags=[XSS_PAYLOADS[1]],
        preference=Preference.tie,
        state=LabelState.submitted,
    )
    edited = [
        example.messages[0],
        {"role": "assistant", "content": payload + " edited " + XSS_PAYLOADS[1]},
    ]
    examples.update(db, project, example.id, member, ExampleUpdate(version=1, messages=edited))
    db.commit()
    headers = bearer(client, db, reviewer)
    client.patch(
        f"/api/projects/demo/pairs/{item.id}",
        headers=headers,
        json={
            "version": 1,
            "rejected": [{"role": "assistant", "content": XSS_PAYLOADS[2] + " changed"}],
        },
    )
    client.post(
        f"/api/projects/demo/review/pair/{item.id}",
        headers=headers,
        json={"decision": "reject", "version": 2, "comment": payload},
    )
    token = login(client, reviewer.email)
    pages = [
        client.get("/projects/demo/review"),
        client.get(f"/projects/demo/review/example/{example.id}"),
        client.get(f"/projects/demo/review/pair/{item.id}"),
        client.get(f"/projects/demo/examples/{example.id}"),
        client.get(f"/projects/demo/pairs/{item.id}"),
        client.post(
            "/projects/demo/review/bulk",
            data={"csrf_token": token, "action": "reject", "tag": XSS_PAYLOADS[0]},
        ),
        client.post(
            f"/projects/demo/review/pair/{item.id}/edit",
            data={"csrf_token": token, "side": "chosen", "version": "1", "content": payload},
        ),
    ]
    client.cookies.clear()
    login(client, member.email)
    pages.append(client.get(f"/projects/demo/examples/{example.id}/pair/new"))
    for page in pages:
        assert page.status_code in (200, 409), page.text[:300]
        _no_raw_payload(page.text)
    review_view = pages[2].text
    assert html.escape(XSS_PAYLOADS[0], quote=False) in review_view
    assert "&lt;img src=x onerror=alert(1)&gt;" in review_view
    assert "hx-disable" in review_view


def test_a_decision_moves_on_to_the_next_item_by_default(
    client: TestClient, db: Session, project: Project, reviewer: User, seed: Importer
) -> None:
    seed(project, [chat("first to review"), chat("second to review")])
    first, second = examples_of(db, project)
    token = login(client, reviewer.email)
    form = {"csrf_token": token, "decision": "reject", "version": "1"}
    response = client.post(
        f"/projects/demo/review/example/{first.id}/decide?kind=example", data=form
    )
    assert response.status_code == 200
    assert str(response.url).startswith(
        f"http://testserver/projects/demo/review/example/{second.id}?"
    )
    link = f'<a href="/projects/demo/review/example/{first.id}?kind=example">'
    assert f"{link}Example {first.id}</a>: Rejected." in response.text
