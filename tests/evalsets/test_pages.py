"""The eval-set pages: tab, upload form, detail with items, freeze, versions, edits, escaping."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.evalsets import service
from app.models import EvalSet, Project, Role, User
from tests.factories import SHARED_DATA, add_member, login, make_user

LIST = "/projects/demo/eval-sets"
HUMANEVAL = SHARED_DATA / "humaneval.jsonl.gz"
XSS = "<script>alert(1)</script>"


def _post(
    client: TestClient,
    url: str,
    token: str | None,
    content: bytes | None = None,
    filename: str = "evals.jsonl",
    **fields: str,
) -> Any:  # the TestClient's response
    data = {**fields, **({"csrf_token": token} if token is not None else {})}
    files = {"file": (filename, content, "application/octet-stream")} if content else None
    return client.post(url, data=data, files=files, follow_redirects=False)


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _set(db: Session, project: Project, user: User, path: Path, name: str = "he") -> EvalSet:
    eval_set = service.create_from_file(
        db, project, user, name=name, path=path, fields=None, header=None
    )
    db.commit()
    return eval_set


def test_upload_page_creates_a_set_and_shows_its_items_escaped(
    client: TestClient, engineer: User, project: Project
) -> None:
    token = login(client, engineer.email)
    empty = client.get(LIST)
    assert empty.status_code == 200
    assert f'href="{LIST}" aria-current="page">Eval sets</a>' in empty.text
    assert "Upload an eval set" in empty.text and 'enctype="multipart/form-data"' in empty.text
    assert 'name="csrf_token"' in empty.text
    rows = [{"question": XSS, "answer": "<b>4</b>", "meta": 7}, {"question": "q2", "answer": "a2"}]
    posted = _post(client, LIST, token, _jsonl(rows), name=XSS, fields="question, answer")
    assert posted.status_code == 303, posted.text
    detail_url = posted.headers["location"]
    assert re.fullmatch(rf"{LIST}/\d+", detail_url)
    page = client.get(detail_url)
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<b>4</b>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;4&lt;/b&gt;" in page.text
    assert "<code>question</code>, <code>answer</code>" in page.text
    assert "not frozen" in page.text and "set when frozen" in page.text
    assert "Freeze</button>" in page.text and "hx-confirm=" in page.text
    listing = client.get(LIST)
    assert "&lt;script&gt;" in listing.text and "<script>alert" not in listing.text
    assert "v1" in listing.text


def test_a_bad_file_shows_the_readers_message(
    client: TestClient, engineer: User, project: Project
) -> None:
    token = login(client, engineer.email)
    content = b'{"question": "fine"}\n{"question": <script>}\n'
    refused = _post(client, LIST, token, content, filename="gsm8k.jsonl", name="gsm8k")
    assert refused.status_code == 422
    assert "gsm8k.jsonl: line 2:" in refused.text and "nothing was stored" in refused.text
    assert "<script>}" not in refused.text
    assert "No eval sets yet" in refused.text
    htmx = client.post(
        LIST,
        data={"csrf_token": token, "name": "gsm8k"},
        files={"file": ("gsm8k.jsonl", content, "application/jsonl")},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 422
    assert 'id="eval-set-form"' in htmx.text and "<html" not in htmx.text
    missing = _post(client, LIST, token, None, name="x")
    assert missing.status_code == 422 and "choose an eval set file" in missing.text


def test_forms_need_the_csrf_token(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    eval_set = _set(db, project, engineer, HUMANEVAL)
    login(client, engineer.email)
    base = f"{LIST}/{eval_set.id}"
    attempts = [
        _post(client, LIST, None, _jsonl([{"q": "x"}]), name="x"),
        _post(client, LIST, "forged", _jsonl([{"q": "x"}]), name="x"),
        _post(client, f"{base}/freeze", None),
        _post(client, f"{base}/versions", None),
        _post(client, f"{base}/edit", None, name="renamed"),
        _post(client, f"{base}/delete", None),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    db.refresh(eval_set)
    assert eval_set.frozen_at is None and eval_set.name == "he"
    assert [s.id for s in service.list_for(db, project)] == [eval_set.id]


def test_freeze_and_new_version_from_the_page(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    eval_set = _set(db, project, engineer, HUMANEVAL)
    token = login(client, engineer.email)
    base = f"{LIST}/{eval_set.id}"
    first = client.get(base)
    assert "Next →" in first.text and f"{base}?start=50" in first.text
    second = client.get(f"{base}?start=50")
    assert "Positions 50\N{EN DASH}99 of 164" in second.text and f"{base}?start=0" in second.text
    frozen = _post(client, f"{base}/freeze", token)
    assert frozen.status_code == 303 and frozen.headers["location"] == base
    db.refresh(eval_set)
    assert eval_set.content_hash
    page = client.get(base)
    assert eval_set.content_hash in page.text
    assert "Freeze</button>" not in page.text and "Change this version" not in page.text
    assert "create a new version" in page.text
    listing = client.get(LIST)
    assert f'title="{eval_set.content_hash}"' in listing.text
    assert f">{eval_set.content_hash}</code>" in listing.text  # cut short by CSS, copied whole

    refused = _post(client, f"{base}/edit", token, name="renamed", fields="")
    assert refused.status_code == 409 and "create a new version" in refused.text
    again = _post(client, f"{base}/freeze", token)
    assert again.status_code == 409 and "already frozen" in again.text

    bad = _post(client, f"{base}/versions", token, fields="nope", header="auto")
    assert bad.status_code == 422 and "no record has the field" in bad.text
    created = _post(client, f"{base}/versions", token, fields="prompt", header="auto")
    assert created.status_code == 303, created.text
    v2 = client.get(created.headers["location"])
    assert "v2" in v2.text and "<code>prompt</code>" in v2.text and "not frozen" in v2.text
    htmx = client.post(
        f"{base}/versions",
        data={"csrf_token": token, "fields": ""},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"].startswith(f"{LIST}/")


def test_edit_and_delete_an_unfrozen_set(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "small.jsonl"
    path.write_bytes(_jsonl([{"question": "a?", "answer": "b"}]))
    eval_set = _set(db, project, engineer, path, name="small")
    _set(db, project, engineer, path, name="taken")
    token = login(client, engineer.email)
    base = f"{LIST}/{eval_set.id}"
    taken = _post(client, f"{base}/edit", token, name="taken", fields="")
    assert taken.status_code == 422 and "already has a version 1" in taken.text
    replaced = _post(
        client, f"{base}/edit", token, _jsonl([{"question": "new?", "answer": "yes"}] * 3),
        name="renamed", fields="question",
    )  # fmt: skip
    assert replaced.status_code == 303, replaced.text
    db.refresh(eval_set)
    assert (eval_set.name, eval_set.text_fields) == ("renamed", ["question"])
    assert service.item_count(db, eval_set) == 3
    deleted = _post(client, f"{base}/delete", token)
    assert deleted.status_code == 303 and deleted.headers["location"] == LIST
    assert client.get(base).status_code == 404


def test_annotators_see_sets_not_items_and_outsiders_see_nothing(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project
) -> None:
    eval_set = _set(db, project, engineer, HUMANEVAL)
    token = login(client, annotator.email)
    assert client.get(LIST).status_code == 404
    assert client.get(f"{LIST}/{eval_set.id}").status_code == 404
    add_member(db, project, annotator, Role.annotator)
    listing = client.get(LIST)
    assert listing.status_code == 200 and "Eval sets</a>" in listing.text
    assert "Upload an eval set" not in listing.text
    detail = client.get(f"{LIST}/{eval_set.id}")
    assert detail.status_code == 200
    assert "Freeze</button>" not in detail.text and "New version" not in detail.text
    # Annotators write training data: they see the set and its count, never its items' text.
    assert "reviewers and above" in detail.text and "has_close_elements" not in detail.text
    assert "record as read" not in detail.text
    reviewer = make_user(db, "rev@example.com", Role.reviewer)
    add_member(db, project, reviewer, Role.reviewer)
    login(client, reviewer.email)
    shown = client.get(f"{LIST}/{eval_set.id}")
    assert "has_close_elements" in shown.text and "record as read" in shown.text
    token = login(client, annotator.email)
    refused = [
        _post(client, LIST, token, _jsonl([{"q": "x"}]), name="x"),
        _post(client, f"{LIST}/{eval_set.id}/freeze", token),
        _post(client, f"{LIST}/{eval_set.id}/versions", token),
        _post(client, f"{LIST}/{eval_set.id}/delete", token),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
