"""The Contamination tab: overview, run form and live progress, the flag table, and a flag's
side-by-side texts with highlighted, escaped matches, dismissal and dropping."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.contamination import flags as flag_service
from app.contamination import overview as overviews
from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.models import Example, FlagStatus, ItemStatus, Project, Role, User
from tests.contamination.test_router import (
    COPIED,
    XSS,
    RunJobs,
    Seeded,
    check,
    seed,
)
from tests.factories import add_member, login, make_user

BASE = "/projects/demo/contamination"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _flag_id(db: Session, project: Project, seeded: Seeded) -> int:
    flags, _ = overviews.list_flags(db, project, status=None)
    [flag] = [f for f in flags if f.example_id == seeded.copied.id]
    return flag.id


def _ready(
    db: Session, project: Project, engineer: User, tmp_path: Path, run_jobs: RunJobs
) -> tuple[Seeded, int]:
    seeded = seed(db, project, engineer, tmp_path, run_jobs)
    check(db, project, engineer, run_jobs)
    return seeded, _flag_id(db, project, seeded)


def test_overview_shows_counts_flags_and_the_run_form(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded, flag_id = _ready(db, project, engineer, tmp_path, run_jobs)
    flag = flag_service.get_flag(db, project, flag_id)
    flag.cosine = None  # as when the embedding model is off: shown as a dash
    db.commit()
    token = login(client, engineer.email)
    page = client.get(BASE)
    assert page.status_code == 200
    html = page.text
    assert f'href="{BASE}" aria-current="page">Contamination</a>' in html
    assert "mmlu-sociology" in html
    # checked: 2 of 2 examples and 1 of 1 pair; 2 open flags; nothing changed since
    assert "2 / 2" in html and "1 / 1" in html
    assert re.search(r"<dt>open flags</dt><dd>2</dd>", html)
    assert '<dd id="changed-since">0</dd>' in html
    assert "last finished check</dt><dd><time" in html
    # the table: a row per flag, scores with 2 decimals or a dash, links to the items
    assert f'href="{BASE}/flags/{flag_id}"' in html
    assert f'href="/projects/demo/examples/{seeded.copied.id}"' in html
    assert f'href="/projects/demo/pairs/{seeded.pair.id}"' in html
    row = re.search(rf'<a href="{BASE}/flags/{flag_id}">.*?</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*|<span class="muted">—</span>)</td>', row.group(0))
    assert len(cells) == 4 and cells[2] == '<span class="muted">—</span>'
    assert all(re.fullmatch(r"[01]\.\d\d", c) for c in (cells[0], cells[1], cells[3])), cells
    assert "mmlu-sociology v1 · item #22" in html
    # the run form, for managers
    assert f'action="{BASE}/runs"' in html and f'value="{token}"' in html
    assert f'name="eval_set_ids" value="{seeded.eval_set.id}" checked' in html
    assert 'name="full"' in html
    assert 'hx-trigger="every 1s"' not in html  # no run going


def test_table_filters_sorts_and_partial(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded, flag_id = _ready(db, project, engineer, tmp_path, run_jobs)
    login(client, engineer.email)
    partial = client.get(f"{BASE}?sort=jaccard", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text
    assert partial.text.lstrip().startswith(("{#", '<div id="flags"'))
    assert f"/flags/{flag_id}" in partial.text
    assert "sort=containment" in partial.text  # the other sort links keep the filters
    empty = client.get(f"{BASE}?status=dismissed")
    assert "No flags match these filters" in empty.text
    by_set = client.get(f"{BASE}?eval_set={seeded.eval_set.id}&status=all&sort=method")
    assert f"/flags/{flag_id}" in by_set.text
    page_one = client.get(f"{BASE}?status=all")
    assert "2 flags, showing 1\u20132" in page_one.text and "Next →" not in page_one.text
    for bad in ("sort=random", "method=regex", "status=gone", "eval_set=x", "offset=y"):
        assert client.get(f"{BASE}?{bad}").status_code == 422, bad


def test_detail_highlights_the_match_and_escapes_user_text(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    _, flag_id = _ready(db, project, engineer, tmp_path, run_jobs)
    login(client, engineer.email)
    page = client.get(f"{BASE}/flags/{flag_id}")
    assert page.status_code == 200
    html = page.text
    assert "<script>alert" not in html and ESCAPED in html
    train = re.search(r'<pre class="pre-wrap" id="train-text">(.*?)</pre>', html, re.S)
    assert train is not None
    assert train.group(1).startswith(ESCAPED)
    marks = re.findall(r"<mark>(.*?)</mark>", train.group(1), re.S)
    assert marks and "Metropolitan Statistical Areas" in " ".join(marks)
    assert all("script" not in m for m in marks)
    evals = re.search(r'id="eval-(?:text|segment)">(.*?)</pre>', html, re.S)
    assert evals is not None and "<mark>" in evals.group(1)
    assert "changed since this flag" not in html
    assert "Dismiss flag" in html and "Drop item" in html and "hx-confirm=" in html
    assert client.get(f"{BASE}/flags/999999").status_code == 404


def test_dismiss_form_needs_a_reason_and_csrf(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    _, flag_id = _ready(db, project, engineer, tmp_path, run_jobs)
    reviewer = make_user(db, "rev@example.com", Role.reviewer)
    add_member(db, project, reviewer, Role.reviewer)
    token = login(client, reviewer.email)
    url = f"{BASE}/flags/{flag_id}/dismiss"
    no_csrf = client.post(url, data={"reason": "fine"}, follow_redirects=False)
    assert no_csrf.status_code == 403
    blank = client.post(url, data={"reason": "  ", "csrf_token": token}, follow_redirects=False)
    assert blank.status_code == 422
    assert "say why this is not contamination" in blank.text and 'aria-invalid="true"' in blank.text
    reason = f"a famous definition {XSS}"
    done = client.post(url, data={"reason": reason, "csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{BASE}/flags/{flag_id}"
    db.expire_all()
    flag = flag_service.get_flag(db, project, flag_id)
    assert flag.status is FlagStatus.dismissed and flag.reason == reason
    assert flag.resolved_by_id == reviewer.id
    page = client.get(f"{BASE}/flags/{flag_id}").text
    assert "Resolution" in page and "rev@example.com" in page
    assert "a famous definition " + ESCAPED in page and "<script>alert" not in page
    assert "Dismiss flag" not in page
    overview = client.get(f"{BASE}?status=dismissed").text
    assert f"/flags/{flag_id}" in overview


def test_drop_button_rejects_the_item(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded, flag_id = _ready(db, project, engineer, tmp_path, run_jobs)
    token = login(client, engineer.email)
    url = f"{BASE}/flags/{flag_id}/drop"
    assert client.post(url, data={}, follow_redirects=False).status_code == 403
    done = client.post(
        url, data={"csrf_token": token}, headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert done.status_code == 200 and done.headers["HX-Redirect"] == f"{BASE}/flags/{flag_id}"
    db.expire_all()
    assert db.get(Example, seeded.copied.id).status is ItemStatus.rejected  # type: ignore[union-attr]
    page = client.get(f"{BASE}/flags/{flag_id}").text
    assert "badge-dropped" in page and "eng@example.com" in page and "badge-rejected" in page


def test_annotators_read_but_cannot_resolve_or_run(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project,
    tmp_path: Path, run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded, flag_id = _ready(db, project, engineer, tmp_path, run_jobs)
    add_member(db, project, annotator, Role.annotator)
    token = login(client, annotator.email)
    overview = client.get(BASE)
    assert overview.status_code == 200 and "Run check" not in overview.text
    detail = client.get(f"{BASE}/flags/{flag_id}")
    assert detail.status_code == 200 and "Dismiss flag" not in detail.text
    assert 'id="eval-hidden"' in detail.text and 'id="eval-text"' not in detail.text
    assert "Drop item" not in detail.text
    for path, data in (
        (f"{BASE}/flags/{flag_id}/dismiss", {"reason": "x"}),
        (f"{BASE}/flags/{flag_id}/drop", {}),
        (f"{BASE}/runs", {"eval_set_ids": str(seeded.eval_set.id)}),
    ):
        posted = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert posted.status_code == 403, path

    outsider = make_user(db, "out@example.com", Role.engineer)
    login(client, outsider.email)
    assert client.get(BASE).status_code == 404
    assert client.get(f"{BASE}/flags/{flag_id}").status_code == 404


def test_run_form_starts_a_check_with_live_progress(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded = seed(db, project, engineer, tmp_path, run_jobs)
    token = login(client, engineer.email)
    before = client.get(BASE).text
    assert '<dd id="changed-since">3</dd>' in before and "never" in before
    url = f"{BASE}/runs"
    assert client.post(url, data={"eval_set_ids": str(seeded.eval_set.id)}).status_code == 403
    none = client.post(url, data={"csrf_token": token}, follow_redirects=False)
    assert none.status_code == 422 and "choose at least one frozen eval set" in none.text
    started = client.post(
        url,
        data={"csrf_token": token, "eval_set_ids": str(seeded.eval_set.id), "full": "true"},
        follow_redirects=False,
    )
    assert started.status_code == 303 and started.headers["location"] == BASE
    going = client.get(BASE).text
    found = re.search(rf'hx-get="{BASE}/runs/(\d+)/progress" hx-trigger="every 1s"', going)
    assert found, "the page polls the run's progress"
    progress_url = f"{BASE}/runs/{found.group(1)}/progress"
    assert "Check running" in going
    polled = client.get(progress_url, headers={"HX-Request": "true"})
    assert polled.status_code == 200 and 'hx-trigger="every 1s"' in polled.text
    assert "HX-Refresh" not in polled.headers

    run_jobs()
    finished = client.get(progress_url, headers={"HX-Request": "true"})
    assert "hx-trigger" not in finished.text and "Check finished" in finished.text
    assert "100%" in finished.text and "2 new flags" in finished.text
    assert finished.headers["HX-Refresh"] == "true"
    after = client.get(BASE).text
    assert "Check running" not in after and '<dd id="changed-since">0</dd>' in after
    assert re.search(r"<dt>open flags</dt><dd>2</dd>", after)
    assert client.get(f"{BASE}/runs/999999/progress").status_code == 404


def test_a_changed_item_is_shown_plain(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded, flag_id = _ready(db, project, engineer, tmp_path, run_jobs)
    edited = [{"role": "user", "content": f"{XSS} Reworded: {COPIED}"},
              {"role": "assistant", "content": "A city and its suburbs."}]  # fmt: skip
    examples.update(
        db, project, seeded.copied.id, engineer,
        ExampleUpdate(version=seeded.copied.version, messages=edited),
    )  # fmt: skip
    db.commit()
    login(client, engineer.email)
    html = client.get(f"{BASE}/flags/{flag_id}").text
    assert "changed since this flag" in html
    train = re.search(r'<pre class="pre-wrap" id="train-text">(.*?)</pre>', html, re.S)
    assert train is not None and "<mark>" not in train.group(1)
    assert train.group(1).startswith(f"{ESCAPED} Reworded: ")
    overview = client.get(BASE).text
    assert '<dd id="changed-since">1</dd>' in overview
