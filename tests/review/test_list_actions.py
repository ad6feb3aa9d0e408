"""Bulk actions on rows picked in the Examples and Pairs lists (issue 18): the count is
confirmed first, approvals go through the review rules, more than INLINE_MAX decisions run
as the existing bulk-review job."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Example, ItemKind, ItemStatus, Job, Project, Selection, User
from app.review import bulk as review_bulk
from tests.factories import login, make_example, make_pair


def _post(client: TestClient, kind: str, **fields: object):  # type: ignore[no-untyped-def]
    return client.post(f"/projects/demo/list-actions/{kind}", data=fields)


def test_pick_rows_confirm_the_count_then_approve_by_the_review_rules(
    client: TestClient, db: Session, project: Project, reviewer: User
) -> None:
    ready = [make_example(db, project, status=ItemStatus.submitted) for _ in range(2)]
    pending = make_example(db, project)
    db.commit()
    token = login(client, reviewer.email)
    listing = client.get("/projects/demo/examples")
    assert 'id="bulk-form"' in listing.text and f'name="ids" value="{pending.id}"' in listing.text
    picked = [ready[0].id, ready[1].id, pending.id]
    ask = _post(client, "examples", csrf_token=token, action="approve", ids=picked)
    assert ask.status_code == 200 and 'data-count="3"' in ask.text
    db.expire_all()
    assert db.get(Example, ready[0].id).status is ItemStatus.submitted  # type: ignore[union-attr]
    stale = _post(client, "examples", csrf_token=token, action="approve", ids=picked,
                  expected_count="2")  # fmt: skip
    assert stale.status_code == 409
    done = _post(client, "examples", csrf_token=token, action="approve", ids=picked,
                 expected_count="3")  # fmt: skip
    assert done.status_code == 200 and 'data-applied="2"' in done.text
    assert re.search(rf"example {pending.id}</a>: it is draft", done.text)
    db.expire_all()
    assert [db.get(Example, e.id).status for e in ready] == [ItemStatus.approved] * 2  # type: ignore[union-attr]


def test_all_matching_rows_tag_selection_and_discard(
    client: TestClient, db: Session, project: Project, reviewer: User
) -> None:
    pairs = [make_pair(db, project) for _ in range(3)]
    db.commit()
    token = login(client, reviewer.email)
    common = {"csrf_token": token, "scope": "all", "f_status": "draft"}
    ask = _post(client, "pairs", **common, action="tag", new_tag="math")
    assert 'data-count="3"' in ask.text
    tagged = _post(client, "pairs", **common, action="tag", new_tag="math", expected_count="3")
    assert 'data-applied="3"' in tagged.text
    saved = _post(client, "pairs", **common, action="selection", name="math pairs",
                  expected_count="3")  # fmt: skip
    assert saved.status_code == 200
    selection = db.scalar(select(Selection).where(Selection.name == "math pairs"))
    assert selection is not None and selection.item_count == 3
    gone = _post(client, "pairs", **common, action="discard", expected_count="3")
    assert 'data-applied="3"' in gone.text
    db.expire_all()
    for pair in pairs:
        db.refresh(pair)
        assert pair.status is ItemStatus.rejected and pair.tags == ["math"]


def test_annotators_get_no_bulk_actions(
    client: TestClient, db: Session, project: Project, member: User
) -> None:
    item = make_example(db, project)
    db.commit()
    token = login(client, member.email)
    assert 'id="bulk-form"' not in client.get("/projects/demo/examples").text
    refused = _post(client, "examples", csrf_token=token, action="discard", ids=[item.id],
                    expected_count="1")  # fmt: skip
    assert refused.status_code == 403


def test_many_approvals_run_as_the_bulk_review_job(
    db: Session, project: Project, reviewer: User, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from app.review import list_actions

    monkeypatch.setattr(review_bulk, "INLINE_MAX", 2)
    items = [make_example(db, project, status=ItemStatus.submitted) for _ in range(3)]
    ids = [e.id for e in items]
    result = list_actions.apply(db, project, reviewer, ItemKind.example, "approve", ids, 3)
    assert result.job_id is not None
    job = db.get(Job, result.job_id)
    assert job is not None and job.kind == review_bulk.BULK_JOB and job.params["ids"] == ids
