"""The diversity API: runs and their progress, the metrics with changes, the map's points, the
clusters and near-duplicate groups, discarding duplicates, diverse subsets, tagging, and who
may do what.

Items go in through the import service (alpaca rows, a few chat rows with a system prompt and a
script tag, two preference pairs); the real jobs run inline with the real embedding model,
memoised for the test session (see tests/contamination/test_router.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.diversity import service
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import (
    DiversityRun,
    Example,
    ItemStatus,
    PreferencePair,
    Project,
    Revision,
    Role,
    User,
)
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from tests.factories import SHARED_DATA, add_member, bearer, login, make_user

API = "/api/projects/demo/diversity"
XSS = "<script>alert(1)</script>"
XSS_QUESTION = f"{XSS} What is the capital city of France, and why is it famous?"
LONG = "word " * 200
RunJobs = Callable[[], list[int]]
POINT_KEYS = {"kind", "id", "x", "y", "cluster", "status", "source", "dup_group", "nn_sim",
              "novelty", "preview"}  # fmt: skip


@dataclass
class Seeded:
    items: int
    xss: list[Example]
    """Two near-identical chat examples whose user turn starts with a script tag."""
    long: Example
    pairs: list[PreferencePair]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _chat(user: str, answer: str, system: str = "You are a helpful assistant.") -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": system},
                         {"role": "user", "content": user},
                         {"role": "assistant", "content": answer}]}  # fmt: skip


def seed(db: Session, project: Project, user: User, tmp_path: Path, rows: int = 120) -> Seeded:
    """Alpaca rows (row 3 with a near copy), chat rows and two pairs, all approved."""
    alpaca = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())[:rows]
    copy = dict(alpaca[3])
    copy["instruction"] = alpaca[3]["instruction"] + " Please."
    alpaca.append(copy)
    chats = [
        _chat(XSS_QUESTION, "Paris, famous for the Eiffel Tower and the Louvre."),
        _chat(XSS_QUESTION + " Thanks!", "Paris, famous for the Eiffel Tower and the Louvre."),
        _chat(LONG, "That is a lot of words."),
    ]
    pairs = [
        {"prompt": "Write a short poem about the sea.", "chosen": "Waves fold in silver light.",
         "rejected": "The sea is water."},
        {"prompt": "How do I sort a list in Python?", "chosen": "Use sorted(items) or list.sort().",
         "rejected": "You cannot."},
    ]  # fmt: skip
    options = ImportOptions(status=ItemStatus.approved)
    for name, data in (("a.jsonl", alpaca), ("c.jsonl", chats), ("p.jsonl", pairs)):
        path = _write(tmp_path / name, data)
        import_file(db, project_id=project.id, path=path, user_id=user.id, options=options)
    db.commit()
    by_id = select(Example).where(Example.project_id == project.id).order_by(Example.id)
    examples = list(db.scalars(by_id))
    return Seeded(
        items=len(examples) + 2,
        xss=[e for e in examples if XSS in str(e.messages)],
        long=next(e for e in examples if LONG.strip() in str(e.messages)),
        pairs=list(db.scalars(select(PreferencePair).order_by(PreferencePair.id))),
    )


def scored(
    db: Session, project: Project, user: User, run_jobs: RunJobs, tau: float = 0.9
) -> DiversityRun:
    run = service.start_run(db, project, user, tau=tau)
    db.commit()
    run_jobs()
    db.refresh(run)
    assert run.finished_at is not None and run.failed is None, run.failed
    return run


@pytest.fixture
def seeded(db: Session, project: Project, engineer: User, tmp_path: Path) -> Seeded:
    return seed(db, project, engineer, tmp_path)


def _member(db: Session, project: Project, email: str, role: Role) -> User:
    user = make_user(db, email, role)
    add_member(db, project, user, role)
    return user


# -- runs --------------------------------------------------------------------------------------


def test_a_run_through_the_api_with_progress_and_changes(
    client: TestClient, db: Session, engineer: User, project: Project, seeded: Seeded,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    auth = bearer(client, db, engineer)
    assert client.get(f"{API}/latest", headers=auth).status_code == 404
    assert client.get(f"{API}/points", headers=auth).status_code == 404
    started = client.post(f"{API}/runs", json={"tau": 0.85}, headers=auth)
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["phase"] == "embedding" and run["finished_at"] is None and run["tau"] == 0.85
    assert run["metrics"] is None and run["changes"] is None and run["job_id"]
    run_jobs()
    done = client.get(f"{API}/runs/{run['id']}", headers=auth).json()
    assert done["phase"] == "done" and done["finished_at"] and done["failed"] is None
    assert done["total"] == done["done"] == seeded.items
    assert done["metrics"]["n_items"] == seeded.items and done["changes"] is None
    assert done["model_id"]
    latest = client.get(f"{API}/latest", headers=auth).json()
    assert latest["id"] == run["id"] and latest["metrics"]["vendi_score"] > 1

    second = client.post(f"{API}/runs", json={}, headers=auth).json()
    assert second["tau"] == 0.9
    run_jobs()
    latest = client.get(f"{API}/latest", headers=auth).json()
    assert latest["id"] == second["id"]
    change = latest["changes"]["vendi_score"]
    assert set(change) == {"previous", "current", "delta"}
    assert change["delta"] == pytest.approx(0, abs=1e-6)
    assert "changes" not in latest["metrics"]

    for bad in ({"tau": 0}, {"tau": 1.5}, {"tau": "x"}):
        assert client.post(f"{API}/runs", json=bad, headers=auth).status_code == 422
    assert client.get(f"{API}/runs/999999", headers=auth).status_code == 404


def test_a_failed_run_reports_why(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs: RunJobs
) -> None:
    auth = bearer(client, db, engineer)
    run = client.post(f"{API}/runs", json={}, headers=auth).json()
    run_jobs()
    body = client.get(f"{API}/runs/{run['id']}", headers=auth).json()
    assert body["failed"] == "the project has no items" and body["finished_at"]
    assert client.get(f"{API}/latest", headers=auth).status_code == 404


# -- reading -----------------------------------------------------------------------------------


def test_points_are_one_object_per_item_with_plain_previews(
    client: TestClient, db: Session, engineer: User, project: Project, seeded: Seeded,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    run = scored(db, project, engineer, run_jobs)
    response = client.get(f"{API}/points", headers=bearer(client, db, engineer))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = json.loads(response.text)  # a script tag in an item never breaks the JSON
    assert body["run_id"] == run.id and body["count"] == seeded.items == len(body["points"])
    points = body["points"]
    assert all(set(p) == POINT_KEYS for p in points)
    assert {p["kind"] for p in points} == {"example", "pair"}
    assert all(p["status"] == "approved" and p["source"] == "imported" for p in points)
    assert all(isinstance(p["x"], float) and isinstance(p["cluster"], int) for p in points)
    assert all(len(p["preview"]) <= 120 for p in points)
    by_id = {(p["kind"], p["id"]): p for p in points}
    # the first user turn, after the system prompt, whitespace collapsed
    xss = by_id[("example", seeded.xss[0].id)]
    assert xss["preview"] == XSS_QUESTION
    assert xss["dup_group"] is not None
    assert xss["dup_group"] == by_id[("example", seeded.xss[1].id)]["dup_group"]
    long = by_id[("example", seeded.long.id)]["preview"]
    assert len(long) == 120 and long.endswith("…") and "  " not in long
    pair = by_id[("pair", seeded.pairs[0].id)]
    assert pair["preview"] == "Write a short poem about the sea."


def test_clusters_and_duplicate_groups(
    client: TestClient, db: Session, engineer: User, project: Project, seeded: Seeded,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    run = scored(db, project, engineer, run_jobs)
    auth = bearer(client, db, engineer)
    body = client.get(f"{API}/clusters", headers=auth).json()
    assert body["run_id"] == run.id
    clusters = body["clusters"]
    assert clusters and sum(c["size"] for c in clusters) == seeded.items
    assert [c["size"] for c in clusters] == sorted((c["size"] for c in clusters), reverse=True)
    assert run.metrics is not None and len(clusters) == run.metrics["n_clusters"]
    for c in clusters:
        assert c["share_approved"] == 1.0 and c["approved"] == c["size"]
        assert 1 <= len(c["samples"]) <= 3
        assert all(set(s) == {"kind", "id", "status", "preview"} for s in c["samples"])

    dups = client.get(f"{API}/duplicates", headers=auth).json()
    assert dups["total"] == run.metrics["duplicate_groups"] >= 2
    assert dups["limit"] == 100 and dups["offset"] == 0
    xss_ids = {e.id for e in seeded.xss}
    [group] = [g for g in dups["groups"] if {m["id"] for m in g["members"]} >= xss_ids]
    assert sum(m["keep"] for m in group["members"]) == 1
    assert group["to_discard"] == len(group["members"]) - 1
    assert any(m["preview"] == XSS_QUESTION for m in group["members"])
    member = group["members"][0]
    assert set(member) == {"kind", "id", "status", "preview", "nn_sim", "rating", "keep"}
    paged = client.get(f"{API}/duplicates?limit=1&offset=1", headers=auth).json()
    assert len(paged["groups"]) == 1 and paged["groups"][0]["id"] == dups["groups"][1]["id"]
    assert client.get(f"{API}/duplicates?limit=0", headers=auth).status_code == 422


# -- acting ------------------------------------------------------------------------------------


def test_discard_one_group_then_all(
    client: TestClient, db: Session, engineer: User, project: Project, seeded: Seeded,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    scored(db, project, engineer, run_jobs)
    reviewer = _member(db, project, "rev@example.com", Role.reviewer)
    auth = bearer(client, db, reviewer)
    groups = client.get(f"{API}/duplicates", headers=auth).json()["groups"]
    xss_ids = {e.id for e in seeded.xss}
    [group] = [g for g in groups if {m["id"] for m in g["members"]} >= xss_ids]
    one = client.post(f"{API}/duplicates/discard", json={"group": group["id"]}, headers=auth)
    assert one.status_code == 200, one.text
    assert one.json()["rejected"] == group["to_discard"] >= 1
    db.expire_all()
    statuses = {e.id: db.get(Example, e.id).status for e in seeded.xss}  # type: ignore[union-attr]
    assert sorted(statuses.values()) == [ItemStatus.approved, ItemStatus.rejected]
    after = client.get(f"{API}/duplicates", headers=auth).json()["groups"]
    [same] = [g for g in after if g["id"] == group["id"]]
    assert same["to_discard"] == 0
    assert client.post(f"{API}/duplicates/discard", json={"group": 99999},
                       headers=auth).status_code == 404  # fmt: skip

    everything = client.post(f"{API}/duplicates/discard", headers=auth)
    assert everything.status_code == 200
    total = everything.json()["rejected"] + one.json()["rejected"]
    rejected = db.scalar(select(func.count()).where(Example.status == ItemStatus.rejected))
    assert rejected == total
    audit = db.scalar(select(func.count()).where(Revision.action == "discard_duplicate"))
    assert audit == total


def test_save_a_diverse_subset(
    client: TestClient, db: Session, engineer: User, project: Project, seeded: Seeded,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    auth = bearer(client, db, engineer)
    assert client.post(f"{API}/subsets", json={"name": "x"}, headers=auth).status_code == 404
    scored(db, project, engineer, run_jobs, tau=0.8)
    made = client.post(f"{API}/subsets", json={"name": "diverse 1", "tau": 0.85, "target": 50,
                                               "then_by": "length"}, headers=auth)  # fmt: skip
    assert made.status_code == 201, made.text
    selection = made.json()
    assert selection["origin"] == "diverse_subset" and 0 < selection["item_count"] <= 50
    assert selection["params"]["then_by"] == "length" and selection["params"]["tau"] == 0.85
    items = client.get(f"/api/projects/demo/selections/{selection['id']}", headers=auth).json()
    assert len(items["examples"]) + len(items["pairs"]) == selection["item_count"]
    default = client.post(f"{API}/subsets", json={"name": "diverse 2"}, headers=auth).json()
    assert default["params"]["then_by"] == "novelty" and default["params"]["target"] is None

    again = client.post(f"{API}/subsets", json={"name": "diverse 1"}, headers=auth)
    assert again.status_code == 409
    low = client.post(f"{API}/subsets", json={"name": "low", "tau": 0.5}, headers=auth)
    assert low.status_code == 422 and "between 0.8 and 1" in low.json()["message"]
    for bad in ({"name": ""}, {"name": "b", "then_by": "random"}, {"name": "b", "target": 0}):
        assert client.post(f"{API}/subsets", json=bad, headers=auth).status_code == 422, bad


def test_tag_examples_and_pairs(
    client: TestClient, db: Session, engineer: User, project: Project, seeded: Seeded,
    tmp_path: Path,
) -> None:  # fmt: skip
    reviewer = _member(db, project, "rev@example.com", Role.reviewer)
    auth = bearer(client, db, reviewer)
    example = seeded.xss[0]
    version = example.version
    body = {"tag": "  travel   qa ", "examples": [e.id for e in seeded.xss],
            "pairs": [seeded.pairs[0].id]}  # fmt: skip
    tagged = client.post(f"{API}/tag", json=body, headers=auth)
    assert tagged.status_code == 200, tagged.text
    assert tagged.json() == {"tag": "travel qa", "tagged": 3, "unchanged": 0}
    db.expire_all()
    fresh = db.get(Example, example.id)
    assert fresh is not None and fresh.tags == ["travel qa"] and fresh.version == version + 1
    pair = db.get(PreferencePair, seeded.pairs[0].id)
    assert pair is not None and pair.tags == ["travel qa"]
    revisions = db.scalars(select(Revision).where(Revision.action == "tag")).all()
    assert len(revisions) == 3
    assert all(r.user_id == reviewer.id and r.after == {"tags": ["travel qa"]} for r in revisions)
    listed = client.get("/api/projects/demo/examples?tag=travel qa", headers=auth).json()
    assert {e["id"] for e in listed["items"]} == {e.id for e in seeded.xss}

    again = client.post(f"{API}/tag", json=body, headers=auth).json()
    assert again == {"tag": "travel qa", "tagged": 0, "unchanged": 3}

    other = projects.create(db, engineer, ProjectCreate(slug="other", name="Other"))
    import_file(db, project_id=other.id, user_id=engineer.id, options=ImportOptions(),
                path=_write(tmp_path / "o.jsonl", [_chat("Another project", "Yes.")]))  # fmt: skip
    db.commit()
    foreign = db.scalar(select(Example.id).where(Example.project_id == other.id))
    assert foreign is not None
    mixed = {"tag": "x", "examples": [example.id, foreign]}
    bad = client.post(f"{API}/tag", json=mixed, headers=auth)
    assert bad.status_code == 422 and f"not items of this project: {foreign}" in bad.text
    for payload in ({"tag": "", "examples": [example.id]}, {"tag": "   ", "examples": [example.id]},
                    {"tag": "x" * 101, "examples": [example.id]}, {"tag": "x"}):  # fmt: skip
        assert client.post(f"{API}/tag", json=payload, headers=auth).status_code == 422, payload
    assert db.scalar(select(func.count()).where(Revision.action == "tag")) == 3


# -- who may do what ---------------------------------------------------------------------------


def test_annotators_read_reviewers_curate_engineers_run(
    client: TestClient, db: Session, engineer: User, project: Project, seeded: Seeded,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    run = scored(db, project, engineer, run_jobs)
    annotator = bearer(client, db, _member(db, project, "ann@example.com", Role.annotator))
    reviewer = bearer(client, db, _member(db, project, "rev@example.com", Role.reviewer))
    outsider = bearer(client, db, make_user(db, "out@example.com", Role.engineer))
    reads = ["/latest", f"/runs/{run.id}", "/points", "/clusters", "/duplicates"]
    tag = {"tag": "t", "examples": [seeded.xss[0].id]}
    writes: list[tuple[str, dict[str, Any]]] = [
        ("/runs", {}), ("/duplicates/discard", {}), ("/subsets", {"name": "s"}), ("/tag", tag)
    ]  # fmt: skip
    for path in reads:
        assert client.get(API + path, headers=annotator).status_code == 200, path
        assert client.get(API + path, headers=outsider).status_code == 404, path
        assert client.get(API + path).status_code == 401, path
    for path, body in writes:
        assert client.post(API + path, json=body, headers=annotator).status_code == 403, path
        assert client.post(API + path, json=body, headers=outsider).status_code == 404, path
    assert client.post(f"{API}/runs", json={}, headers=reviewer).status_code == 403
    assert client.post(f"{API}/subsets", json={"name": "s"}, headers=reviewer).status_code == 403
    assert client.post(f"{API}/tag", json=tag, headers=reviewer).status_code == 200
    assert client.post(f"{API}/duplicates/discard", headers=reviewer).status_code == 200


def test_cookie_writes_need_the_csrf_header(
    client: TestClient, db: Session, engineer: User, project: Project, seeded: Seeded,
) -> None:  # fmt: skip
    token = login(client, engineer.email)
    body = {"tag": "csrf", "examples": [seeded.xss[0].id]}
    assert client.post(f"{API}/tag", json=body).status_code == 403
    assert client.post(f"{API}/tag", json=body, headers={"X-CSRF-Token": "nope"}).status_code == 403
    done = client.post(f"{API}/tag", json=body, headers={"X-CSRF-Token": token})
    assert done.status_code == 200 and done.json()["tagged"] == 1
