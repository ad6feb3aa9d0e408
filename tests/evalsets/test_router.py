"""The eval-set REST API: uploads, paging, freezing, versions, immutability and roles."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Job, Project, Role, User
from tests.factories import (
    SHARED_DATA,
    RecordingDispatcher,
    add_member,
    bearer,
    login,
    make_user,
)

BASE = "/api/projects/demo/eval-sets"
HUMANEVAL = SHARED_DATA / "humaneval.jsonl.gz"
MMLU = SHARED_DATA / "mmlu_sociology_test.csv"


def _upload(
    client: TestClient,
    headers: dict[str, str],
    path: Any = HUMANEVAL,
    data: dict[str, Any] | None = None,
    url: str = BASE,
    method: str = "POST",
) -> Any:  # the TestClient's response
    with open(path, "rb") as fh:
        return client.request(
            method,
            url,
            headers=headers,
            data=data if data is not None else {"name": "humaneval"},
            files={"file": (path.name, fh.read(), "application/octet-stream")},
        )


def _create_humaneval(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    created = _upload(
        client, headers, data={"name": "humaneval", "fields": ["prompt", "canonical_solution"]}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_upload_humaneval_and_page_its_items(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    headers = bearer(client, db, engineer)
    body = _create_humaneval(client, headers)
    assert body["name"] == "humaneval" and body["version"] == 1
    assert body["text_fields"] == ["prompt", "canonical_solution"]
    assert body["item_count"] == 164
    assert body["frozen"] is False and body["frozen_at"] is None and body["content_hash"] is None
    got = client.get(f"{BASE}/{body['id']}", headers=headers).json()
    assert got == body
    page = client.get(f"{BASE}/{body['id']}/items", params={"limit": 100}, headers=headers).json()
    assert page["total"] == 164 and page["next_start"] == 100
    assert [i["position"] for i in page["items"]] == list(range(100))
    first = page["items"][0]
    assert (
        first["text"]
        == first["original"]["prompt"] + "\n" + first["original"]["canonical_solution"]
    )
    assert set(first) == {"position", "text", "original", "content_hash"}
    rest = client.get(
        f"{BASE}/{body['id']}/items", params={"start": 100, "limit": 100}, headers=headers
    ).json()
    assert [i["position"] for i in rest["items"]] == list(range(100, 164))
    assert rest["next_start"] is None
    too_big = client.get(f"{BASE}/{body['id']}/items", params={"limit": 501}, headers=headers)
    assert too_big.status_code == 422
    listed = client.get(BASE, headers=headers).json()
    assert [(s["id"], s["item_count"]) for s in listed] == [(body["id"], 164)]
    # comma-separated fields are the same as repeated ones
    again = _upload(
        client, headers, data={"name": "humaneval", "fields": "prompt, canonical_solution"}
    )
    assert again.status_code == 201
    assert again.json()["text_fields"] == ["prompt", "canonical_solution"]
    assert again.json()["version"] == 2


def test_upload_headerless_mmlu_csv(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    headers = bearer(client, db, engineer)
    for header in ("auto", "false"):
        created = _upload(client, headers, MMLU, {"name": f"mmlu-{header}", "header": header})
        assert created.status_code == 201, created.text
        assert created.json()["item_count"] == 201
        assert created.json()["text_fields"] == []
    bad = _upload(client, headers, MMLU, {"name": "mmlu", "header": "maybe"})
    assert bad.status_code == 422 and "header" in bad.json()["message"]


def test_a_bad_file_is_refused_whole_with_its_line(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Any
) -> None:
    headers = bearer(client, db, engineer)
    bad = tmp_path / "gsm8k.jsonl"
    bad.write_text(json.dumps({"question": "1+1?", "answer": "2"}) + "\n{not json}\n")
    refused = _upload(client, headers, bad, {"name": "gsm8k"})
    assert refused.status_code == 422
    message = refused.json()["message"]
    assert message.startswith("gsm8k.jsonl: line 2:"), message
    assert "nothing was stored" in message
    assert client.get(BASE, headers=headers).json() == []
    no_name = _upload(client, headers, HUMANEVAL, {"name": "   "})
    assert no_name.status_code == 422


def test_freeze_then_every_change_is_409(
    client: TestClient,
    db: Session,
    engineer: User,
    project: Project,
    dispatcher: RecordingDispatcher,
) -> None:
    headers = bearer(client, db, engineer)
    body = _create_humaneval(client, headers)
    url = f"{BASE}/{body['id']}"
    frozen = client.post(f"{url}/freeze", headers=headers)
    assert frozen.status_code == 200, frozen.text
    out = frozen.json()
    assert out["frozen"] is True and out["frozen_at"]
    assert len(out["content_hash"]) == 64
    job = db.get(Job, out["job_id"])
    assert job is not None and job.kind == "eval_index"
    assert job.params == {"eval_set_id": body["id"]}
    assert dispatcher.sent == [job.id]  # sent once the request committed
    assert client.get(url, headers=headers).json()["content_hash"] == out["content_hash"]

    again = client.post(f"{url}/freeze", headers=headers)
    assert again.status_code == 409
    changes = [
        client.patch(url, json={"name": "renamed"}, headers=headers),
        client.patch(url, json={"text_fields": ["prompt"]}, headers=headers),
        _upload(client, headers, data={}, url=f"{url}/items", method="PUT"),
        client.delete(url, headers=headers),
    ]
    for response in changes:
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "conflict"
        assert "new version" in response.json()["message"]
    unchanged = client.get(url, headers=headers).json()
    assert unchanged["name"] == "humaneval" and unchanged["item_count"] == 164
    assert unchanged["content_hash"] == out["content_hash"]

    version = client.post(f"{url}/versions", headers=headers)
    assert version.status_code == 201, version.text
    v2 = version.json()
    assert (v2["name"], v2["version"], v2["frozen"], v2["item_count"]) == (
        "humaneval",
        2,
        False,
        164,
    )
    assert v2["text_fields"] == ["prompt", "canonical_solution"]
    renamed = client.patch(f"{BASE}/{v2['id']}", json={"text_fields": ["prompt"]}, headers=headers)
    assert renamed.status_code == 200 and renamed.json()["text_fields"] == ["prompt"]
    from_file = _upload(client, headers, MMLU, {"fields": "column_1"}, url=f"{url}/versions")
    assert from_file.status_code == 201, from_file.text
    assert from_file.json()["version"] == 3 and from_file.json()["item_count"] == 201


def test_unfrozen_sets_can_be_changed_and_deleted(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Any
) -> None:
    headers = bearer(client, db, engineer)
    body = _create_humaneval(client, headers)
    url = f"{BASE}/{body['id']}"
    renamed = client.patch(url, json={"name": "HumanEval"}, headers=headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "HumanEval"
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"prompt": "p", "canonical_solution": "s", "test": "t"}) + "\n")
    replaced = _upload(client, headers, small, {}, url=f"{url}/items", method="PUT")
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["item_count"] == 1
    items = client.get(f"{url}/items", headers=headers).json()["items"]
    assert [i["text"] for i in items] == ["p\ns"]
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert client.get(f"{BASE}/999999", headers=headers).status_code == 404


def test_roles(
    client: TestClient,
    db: Session,
    engineer: User,
    annotator: User,
    project: Project,
) -> None:
    body = _create_humaneval(client, bearer(client, db, engineer))
    url = f"{BASE}/{body['id']}"
    other = bearer(client, db, annotator)
    for path in (BASE, url, f"{url}/items"):
        assert client.get(path, headers=other).status_code == 404  # not a member
    assert _upload(client, other).status_code == 404
    add_member(db, project, annotator, Role.annotator)
    for path in (BASE, url):
        assert client.get(path, headers=other).status_code == 200
    # Eval items' text is for reviewers and above: annotators write training data.
    assert client.get(f"{url}/items", headers=other).status_code == 403
    assert client.get(url, headers=other).json()["item_count"] == body["item_count"]
    reviewer = make_user(db, "rev@example.com", Role.reviewer)
    add_member(db, project, reviewer, Role.reviewer)
    items = client.get(f"{url}/items", headers=bearer(client, db, reviewer))
    assert items.status_code == 200 and items.json()["total"] == body["item_count"]
    refused = [
        _upload(client, other),
        client.post(f"{url}/freeze", headers=other),
        client.post(f"{url}/versions", headers=other),
        client.patch(url, json={"name": "x"}, headers=other),
        client.delete(url, headers=other),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert client.get(url, headers=other).json()["frozen"] is False


def test_cookie_writes_need_the_csrf_token(
    client: TestClient, engineer: User, project: Project
) -> None:
    token = login(client, engineer.email)
    with open(HUMANEVAL, "rb") as fh:
        content = fh.read()
    files = {"file": ("humaneval.jsonl.gz", content, "application/gzip")}
    refused = client.post(BASE, data={"name": "he"}, files=files)
    assert refused.status_code == 403
    created = client.post(BASE, data={"name": "he", "csrf_token": token}, files=files)
    assert created.status_code == 201, created.text
