from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import Project, Revision, User
from tests.factories import bearer


def _seed(db: Session, project: Project, tmp_path: Path, n: int = 30) -> None:
    def topic(i: int) -> str:
        return "dogs" if i % 3 == 0 else "cats"

    rows = [
        {"messages": [{"role": "user", "content": f"Question {i} about {topic(i)}"},
                      {"role": "assistant", "content": f"Answer {i}"}]}
        for i in range(n)
    ]  # fmt: skip
    path = tmp_path / "seed.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    import_file(db, project_id=project.id, path=path, options=ImportOptions(), user_id=None)
    db.commit()


def test_list_filters_and_keyset_pagination(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path
) -> None:
    _seed(db, project, tmp_path)
    headers = bearer(client, db, engineer)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 7, "q": "DOGS"}
        if cursor:
            params["after"] = cursor
        page = client.get("/api/projects/demo/examples", params=params, headers=headers).json()
        assert page["total"] == 10
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 10
    assert seen == sorted(seen, reverse=True)
    oldest = client.get(
        "/api/projects/demo/examples", params={"sort": "oldest", "limit": 3}, headers=headers
    ).json()
    assert [i["id"] for i in oldest["items"]] == sorted(i["id"] for i in oldest["items"])
    status = client.get(
        "/api/projects/demo/examples", params={"status": "approved"}, headers=headers
    ).json()
    assert status["total"] == 0
    bad = client.get("/api/projects/demo/examples", params={"status": "nope"}, headers=headers)
    assert bad.status_code == 422 and "status" in bad.json()["message"]


def test_update_with_stale_version_gets_409_and_keeps_both(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path
) -> None:
    _seed(db, project, tmp_path, n=2)
    headers = bearer(client, db, engineer)
    item = client.get("/api/projects/demo/examples", headers=headers).json()["items"][0]
    url = f"/api/projects/demo/examples/{item['id']}"
    mine = [item["messages"][0], {"role": "assistant", "content": "first edit"}]
    first = client.patch(
        url, json={"version": item["version"], "messages": mine, "rating": 4}, headers=headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["version"] == item["version"] + 1
    theirs = [item["messages"][0], {"role": "assistant", "content": "stale edit"}]
    stale = client.patch(
        url, json={"version": item["version"], "messages": theirs}, headers=headers
    )
    assert stale.status_code == 409
    body = stale.json()
    assert body["details"]["current"]["messages"][1]["content"] == "first edit"
    assert client.get(url, headers=headers).json()["messages"][1]["content"] == "first edit"
    revision = db.scalar(select(Revision).where(Revision.item_id == item["id"]))
    assert revision is not None
    assert revision.before["messages"][1]["content"] == item["messages"][1]["content"]
    assert revision.after["messages"][1]["content"] == "first edit"
    assert revision.after["rating"] == 4 and revision.user_id == engineer.id


def test_update_rejects_unknown_role(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path
) -> None:
    _seed(db, project, tmp_path, n=1)
    headers = bearer(client, db, engineer)
    item = client.get("/api/projects/demo/examples", headers=headers).json()["items"][0]
    response = client.patch(
        f"/api/projects/demo/examples/{item['id']}",
        json={"version": item["version"], "messages": [{"role": "robot", "content": "x"}]},
        headers=headers,
    )
    assert response.status_code == 422
    assert "messages[0].role" in response.json()["message"]


def test_text_search_count_stops_at_the_cap(
    client: TestClient,
    db: Session,
    engineer: User,
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.items import listing

    _seed(db, project, tmp_path, n=30)
    monkeypatch.setattr(listing, "COUNT_CAP", 5)
    headers = bearer(client, db, engineer)
    params = {"q": "cats", "limit": 3}  # a partial first page, so a count is needed
    page = client.get("/api/projects/demo/examples", params=params, headers=headers).json()
    assert (page["total"], page["total_is_lower_bound"]) == (6, True)
    exact = client.get("/api/projects/demo/examples", params={"limit": 3}, headers=headers).json()
    assert (exact["total"], exact["total_is_lower_bound"]) == (30, False)
