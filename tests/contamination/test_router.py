"""The contamination API: runs, overview, flags, dismiss and drop, and who may do what.

The data goes in through the services: examples and a pair imported from JSONL, the first rows
of the MMLU sociology CSV as a frozen eval set, then the real jobs (eval_index,
contamination_check, contamination_chunk) run inline. The embedding model is the real one; a
process-wide memo keeps each text's vector so only the first test pays for encoding.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.contamination import service as contamination
from app.evalsets import service as evalsets
from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import EvalSet, Example, ItemStatus, PreferencePair, Project, Role, User
from tests.factories import SHARED_DATA, add_member, bearer, make_user

API = "/api/projects/demo/contamination"
MMLU = SHARED_DATA / "mmlu_sociology_test.csv"
EVAL_ROWS = 40
"""The eval set is the file's first rows: enough for realistic checks, quick to index."""
XSS = "<script>alert(1)</script>"
RunJobs = Callable[[], list[int]]


def _question(row: int) -> str:
    with MMLU.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))[row][0]


COPIED = _question(22)  # 30 words, about Metropolitan Statistical Areas
PAIR_COPIED = _question(18)  # 22 words, about former slaves migrating to cities


@dataclass
class Seeded:
    eval_set: EvalSet
    copied: Example
    """Holds an eval question verbatim, after a script tag."""
    clean: Example
    pair: PreferencePair
    """Its prompt holds another eval question verbatim."""


def chat(user: str, assistant: str) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    }


def seed(db: Session, project: Project, user: User, tmp_path: Path, run_jobs: RunJobs) -> Seeded:
    """Items and a frozen eval set, indexed (no check run yet)."""
    records = [
        chat(f"{XSS}\nPlease answer: {COPIED}", "A core city and the counties tied to it."),
        chat(f"{XSS} How long should bread dough rise?", "About an hour, until doubled."),
    ]
    pairs = [
        {
            "prompt": f"Answer in one line. {PAIR_COPIED}",
            "chosen": "Upward social mobility, they claimed.",
            "rejected": "I cannot say.",
        }
    ]
    for name, rows in (("examples.jsonl", records), ("pairs.jsonl", pairs)):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        import_file(db, project_id=project.id, path=path, options=ImportOptions(), user_id=None)
    head = tmp_path / "mmlu_sociology_test.csv"
    with MMLU.open(encoding="utf-8") as f:
        head.write_text("".join(f.readline() for _ in range(EVAL_ROWS)), encoding="utf-8")
    eval_set = evalsets.create_from_file(
        db, project, user, name="mmlu-sociology", path=head, fields=None, header=False
    )
    evalsets.freeze(db, eval_set, user)
    db.commit()
    run_jobs()
    found = db.scalars(select(Example).where(Example.project_id == project.id).order_by(Example.id))
    [copied, clean] = found
    pair = db.scalars(select(PreferencePair).where(PreferencePair.project_id == project.id)).one()
    return Seeded(eval_set, copied, clean, pair)


def check(db: Session, project: Project, user: User, run_jobs: RunJobs) -> None:
    contamination.start_check(db, project, user)
    db.commit()
    run_jobs()
    db.expire_all()


def flag_of(client: TestClient, headers: dict[str, str], **filters: Any) -> dict[str, Any]:
    """The one flag of the copied example (status any)."""
    page = client.get(f"{API}/flags", params={"status": "all", **filters}, headers=headers)
    assert page.status_code == 200, page.text
    found: list[dict[str, Any]] = [f for f in page.json()["items"] if f["item_kind"] == "example"]
    assert len(found) == 1, page.json()
    return found[0]


def test_a_run_finds_the_copies_and_reports_progress_and_overview(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded = seed(db, project, engineer, tmp_path, run_jobs)
    headers = bearer(client, db, engineer)
    before = client.get(f"{API}/overview", headers=headers).json()
    assert before["changed_since"] == 3 and before["open_flags"] == 0
    assert before["last_run"] is None and before["running"] is None

    started = client.post(f"{API}/runs", json={"full": False}, headers=headers)
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["finished_at"] is None and run["eval_set_ids"] == [seeded.eval_set.id]
    assert run["job_id"] and run["failed"] is None
    going = client.get(f"{API}/overview", headers=headers).json()
    assert going["running"]["id"] == run["id"]

    run_jobs()
    done = client.get(f"{API}/runs/{run['id']}", headers=headers).json()
    assert done["finished_at"] and done["total"] == done["done"] == 3
    assert done["flags"] == 2 and done["failed"] is None

    view = client.get(f"{API}/overview", headers=headers).json()
    assert (view["examples"], view["pairs"], view["open_flags"], view["changed_since"]) == (
        2, 1, 2, 0,
    )  # fmt: skip
    [per_set] = view["sets"]
    assert per_set["eval_set_id"] == seeded.eval_set.id and per_set["name"] == "mmlu-sociology"
    assert (per_set["checked_examples"], per_set["checked_pairs"]) == (2, 1)
    assert sum(per_set["open_by_method"].values()) == 2
    assert (per_set["dismissed"], per_set["dropped"]) == (0, 0)
    assert view["last_run"]["id"] == run["id"] and view["running"] is None
    assert [r["id"] for r in view["runs"]] == [run["id"]]

    page = client.get(f"{API}/flags", headers=headers).json()
    assert page["total"] == 2 and (page["limit"], page["offset"]) == (50, 0)
    kinds = {(f["item_kind"], f["example_id"], f["pair_id"]) for f in page["items"]}
    assert kinds == {("example", seeded.copied.id, None), ("pair", None, seeded.pair.id)}
    assert all(f["status"] == "open" and f["score"] >= 0.5 for f in page["items"])
    assert seeded.clean.id not in {f["example_id"] for f in page["items"]}


def test_flag_detail_gives_both_texts_and_the_spans(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seed(db, project, engineer, tmp_path, run_jobs)
    check(db, project, engineer, run_jobs)
    headers = bearer(client, db, engineer)
    flag = flag_of(client, headers)
    detail = client.get(f"{API}/flags/{flag['id']}", headers=headers)
    assert detail.status_code == 200
    body = detail.json()
    assert body["train_text"].startswith(XSS) and not body["train_changed"]
    assert COPIED in body["eval_text"] and body["eval_position"] == 22
    marked = " ".join(body["train_text"][s:e] for s, e in body["train_spans"])
    assert "Metropolitan Statistical Areas" in marked and XSS not in marked
    eval_marked = " ".join(body["eval_segment"][s:e] for s, e in body["eval_spans"])
    assert "Metropolitan Statistical Areas" in eval_marked
    assert client.get(f"{API}/flags/999999", headers=headers).status_code == 404


def test_filters_sorts_and_paging(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded = seed(db, project, engineer, tmp_path, run_jobs)
    check(db, project, engineer, run_jobs)
    headers = bearer(client, db, engineer)

    def ids(**params: Any) -> tuple[list[int], int]:
        got = client.get(f"{API}/flags", params=params, headers=headers)
        assert got.status_code == 200, got.text
        return [f["id"] for f in got.json()["items"]], got.json()["total"]

    everything, total = ids(status="all")
    assert total == 2
    for sort in ("score", "jaccard", "containment", "cosine", "method", "newest"):
        assert sorted(ids(sort=sort)[0]) == sorted(everything)
    first, total = ids(limit=1)
    second, _ = ids(limit=1, offset=1)
    assert total == 2 and len(first) == len(second) == 1 and first != second
    assert ids(eval_set_id=seeded.eval_set.id)[1] == 2
    assert ids(eval_set_id=seeded.eval_set.id + 1000)[1] == 0
    assert ids(status="dismissed") == ([], 0)
    methods = {f["method"] for f in client.get(f"{API}/flags", headers=headers).json()["items"]}
    for method in methods:
        assert ids(method=method)[1] >= 1
    for bad in ({"sort": "random"}, {"method": "regex"}, {"status": "gone"}, {"limit": 0},
                {"offset": -1}):  # fmt: skip
        assert client.get(f"{API}/flags", params=bad, headers=headers).status_code == 422


def test_dismiss_needs_a_reason_and_records_it(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seed(db, project, engineer, tmp_path, run_jobs)
    check(db, project, engineer, run_jobs)
    reviewer = make_user(db, "rev@example.com", Role.reviewer)
    add_member(db, project, reviewer, Role.reviewer)
    headers = bearer(client, db, reviewer)
    flag = flag_of(client, headers)
    url = f"{API}/flags/{flag['id']}/dismiss"
    assert client.post(url, json={}, headers=headers).status_code == 422
    blank = client.post(url, json={"reason": "   "}, headers=headers)
    assert blank.status_code == 422 and "reason" in blank.json()["message"]
    done = client.post(url, json={"reason": "a quotation the eval also uses"}, headers=headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "dismissed" and body["reason"] == "a quotation the eval also uses"
    assert body["resolved_by_id"] == reviewer.id and body["resolved_at"]
    again = client.post(url, json={"reason": "again"}, headers=headers)
    assert again.status_code == 422
    dropped = client.post(f"{API}/flags/{flag['id']}/drop", json={}, headers=headers)
    assert dropped.status_code == 422
    view = client.get(f"{API}/overview", headers=headers).json()
    assert view["sets"][0]["dismissed"] == 1 and view["open_flags"] == 1


def test_drop_rejects_the_training_item(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded = seed(db, project, engineer, tmp_path, run_jobs)
    check(db, project, engineer, run_jobs)
    headers = bearer(client, db, engineer)
    flag = flag_of(client, headers)
    dropped = client.post(f"{API}/flags/{flag['id']}/drop", headers=headers)
    assert dropped.status_code == 200, dropped.text
    assert dropped.json()["status"] == "dropped" and dropped.json()["reason"]
    db.expire_all()
    assert db.get(Example, seeded.copied.id).status is ItemStatus.rejected  # type: ignore[union-attr]
    pair_flag = flag_of_pair(client, headers)
    with_reason = client.post(
        f"{API}/flags/{pair_flag['id']}/drop", json={"reason": "leaks MMLU"}, headers=headers
    )
    assert with_reason.json()["reason"] == "leaks MMLU"
    db.expire_all()
    assert db.get(PreferencePair, seeded.pair.id).status is ItemStatus.rejected  # type: ignore[union-attr]
    view = client.get(f"{API}/overview", headers=headers).json()
    assert view["sets"][0]["dropped"] == 2 and view["open_flags"] == 0


def flag_of_pair(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    page = client.get(f"{API}/flags", params={"status": "all"}, headers=headers).json()
    found: list[dict[str, Any]] = [f for f in page["items"] if f["item_kind"] == "pair"]
    assert len(found) == 1, page
    return found[0]


def test_an_edited_item_shows_its_text_without_stale_spans(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded = seed(db, project, engineer, tmp_path, run_jobs)
    check(db, project, engineer, run_jobs)
    headers = bearer(client, db, engineer)
    flag = flag_of(client, headers)
    edited = [{"role": "user", "content": f"Reworded: {COPIED}"},
              {"role": "assistant", "content": "A city and its suburbs."}]  # fmt: skip
    examples.update(
        db, project, seeded.copied.id, engineer,
        ExampleUpdate(version=seeded.copied.version, messages=edited),
    )  # fmt: skip
    db.commit()
    body = client.get(f"{API}/flags/{flag['id']}", headers=headers).json()
    assert body["train_changed"] and body["train_spans"] == []
    assert body["train_text"].startswith("Reworded: ")
    view = client.get(f"{API}/overview", headers=headers).json()
    assert view["changed_since"] == 1
    assert view["running"] is not None  # the edit queued a check of just that item


def test_who_may_do_what(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project,
    tmp_path: Path, run_jobs: RunJobs,
) -> None:  # fmt: skip
    seed(db, project, engineer, tmp_path, run_jobs)
    check(db, project, engineer, run_jobs)
    flag = flag_of(client, bearer(client, db, engineer))
    reviewer = make_user(db, "rev@example.com", Role.reviewer)
    outsider = make_user(db, "out@example.com", Role.engineer)
    add_member(db, project, annotator, Role.annotator)
    add_member(db, project, reviewer, Role.reviewer)
    dismiss = f"{API}/flags/{flag['id']}/dismiss"
    drop = f"{API}/flags/{flag['id']}/drop"

    ann = bearer(client, db, annotator)
    for path in ("/overview", "/flags", f"/flags/{flag['id']}"):
        assert client.get(f"{API}{path}", headers=ann).status_code == 200, path
    # Annotators write training data: the flag shows their text, never the eval item's.
    hidden = client.get(f"{API}/flags/{flag['id']}", headers=ann).json()
    assert hidden["eval_hidden"] and hidden["eval_text"] == hidden["eval_segment"] == ""
    assert hidden["train_text"] and hidden["eval_spans"] == []
    assert client.post(dismiss, json={"reason": "x"}, headers=ann).status_code == 403
    assert client.post(drop, headers=ann).status_code == 403
    assert client.post(f"{API}/runs", json={}, headers=ann).status_code == 403
    rev = bearer(client, db, reviewer)
    assert client.post(f"{API}/runs", json={}, headers=rev).status_code == 403

    out = bearer(client, db, outsider)
    for path in ("/overview", "/flags", f"/flags/{flag['id']}"):
        assert client.get(f"{API}{path}", headers=out).status_code == 404, path
    assert client.post(dismiss, json={"reason": "x"}, headers=out).status_code == 404
    assert client.post(f"{API}/runs", json={}, headers=out).status_code == 404
    assert client.get(f"{API}/overview").status_code == 401

    shown = client.get(f"{API}/flags/{flag['id']}", headers=rev).json()
    assert not shown["eval_hidden"] and shown["eval_text"] and shown["eval_segment"]
    assert client.post(dismiss, json={"reason": "fine"}, headers=rev).status_code == 200


def test_runs_need_frozen_sets_of_this_project(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    headers = bearer(client, db, engineer)
    none = client.post(f"{API}/runs", json={}, headers=headers)
    assert none.status_code == 422 and "freeze an eval set" in none.json()["message"]
    seeded = seed(db, project, engineer, tmp_path, run_jobs)
    other = client.post(
        f"{API}/runs", json={"eval_set_ids": [seeded.eval_set.id + 1000]}, headers=headers
    )
    assert other.status_code == 422
    chosen = client.post(
        f"{API}/runs", json={"eval_set_ids": [seeded.eval_set.id], "full": True}, headers=headers
    )
    assert chosen.status_code == 202 and chosen.json()["full"] is True
    assert client.get(f"{API}/runs/999999", headers=headers).status_code == 404
    run_jobs()
    assert client.get(f"{API}/runs/{chosen.json()['id']}", headers=headers).json()["finished_at"]
