"""The Diversity tab: metrics with their changes, the run form and live progress, the map
container, clusters, near-duplicate groups with discard buttons, the diverse-subset form, CSRF
on every form and escaped item text."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Example, ItemStatus, Project, Role, Selection, User
from tests.diversity.test_router import XSS, RunJobs, Seeded, scored, seed
from tests.factories import add_member, login, make_user

BASE = "/projects/demo/diversity"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _only_external_scripts(html: str) -> None:
    """Every script tag loads a file: nothing inline (the CSP would block it anyway)."""
    tags = re.findall(r"<script\b[^>]*>", html)
    assert tags and all(re.search(r'\bsrc="/static/', t) for t in tags), tags
    assert "<script>" not in html


def _member(db: Session, project: Project, email: str, role: Role) -> User:
    user = make_user(db, email, role)
    add_member(db, project, user, role)
    return user


def test_before_any_run_the_page_offers_the_run_form(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    token = login(client, engineer.email)
    page = client.get(BASE)
    assert page.status_code == 200
    html = page.text
    assert f'href="{BASE}" aria-current="page">Diversity</a>' in html
    assert "No diversity run has finished yet" in html
    assert f'action="{BASE}/runs"' in html and f'value="{token}"' in html
    assert 'name="tau"' in html and 'value="0.9"' in html
    assert 'id="diversity-map"' not in html and "diversity.js" not in html


def test_run_form_progress_then_metrics_map_clusters_and_groups(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded = seed(db, project, engineer, tmp_path)
    token = login(client, engineer.email)
    url = f"{BASE}/runs"
    assert client.post(url, data={"tau": "0.9"}, follow_redirects=False).status_code == 403
    bad = client.post(url, data={"tau": "2", "csrf_token": token}, follow_redirects=False)
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    assert 'id="tau-error"' in bad.text and 'value="2"' in bad.text
    started = client.post(url, data={"tau": "0.9", "csrf_token": token}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"] == BASE

    going = client.get(BASE).text
    found = re.search(rf'hx-get="{BASE}/runs/(\d+)/progress" hx-trigger="every 1s"', going)
    assert found, "the page polls the run's progress"
    assert "Run going: embedding" in going
    progress_url = f"{BASE}/runs/{found.group(1)}/progress"
    polled = client.get(progress_url, headers={"HX-Request": "true"})
    assert polled.status_code == 200 and 'hx-trigger="every 1s"' in polled.text
    assert "<html" not in polled.text and "HX-Refresh" not in polled.headers

    run_jobs()
    finished = client.get(progress_url, headers={"HX-Request": "true"})
    assert "hx-trigger" not in finished.text and "Run finished" in finished.text
    assert "100%" in finished.text and finished.headers["HX-Refresh"] == "true"
    assert client.get(f"{BASE}/runs/999999/progress").status_code == 404

    html = client.get(BASE).text
    assert "Run going" not in html
    metrics = re.search(r'<dl class="summary metrics">(.*?)</dl>', html, re.S)
    assert metrics is not None
    for key in ("n_items", "vendi_score", "n_clusters", "near_duplicate_share", "mean_novelty",
                "largest_cluster_share"):  # fmt: skip
        assert f'data-metric="{key}"' in metrics.group(1), key
    assert f"<dt>items</dt><dd>{seeded.items}</dd>" in metrics.group(1)
    assert "delta" not in metrics.group(1)  # a first run has nothing to compare with
    assert "nothing to compare with yet" in html
    # the map: a container the script fills from the points API
    assert 'id="diversity-map"' in html
    assert 'data-points-url="/api/projects/demo/diversity/points"' in html
    assert '<canvas id="map-canvas"' in html and 'id="map-colour"' in html
    assert 'id="map-tag-form"' in html and 'id="map-selection-form"' in html
    assert '<script src="/static/diversity.js?v=' in html
    _only_external_scripts(html)
    # clusters with typical items linked, groups with their members
    assert 'id="clusters"' in html and re.search(r'<tr id="cluster-\d+">', html)
    assert re.search(r'class="sample" href="/projects/demo/(examples|pairs)/\d+"', html)
    assert '<div class="dup-group" id="group-' in html
    for example in seeded.xss:
        assert f'href="/projects/demo/examples/{example.id}">example {example.id}</a>' in html
    assert 'class="kept-label">kept' in html

    second = client.post(url, data={"tau": "0.9", "csrf_token": token}, follow_redirects=False)
    assert second.status_code == 303
    run_jobs()
    again = client.get(BASE).text
    cards = re.search(r'<dl class="summary metrics">(.*?)</dl>', again, re.S)
    assert cards is not None and 'class="delta delta-same"' in cards.group(1)
    assert "no change" in cards.group(1)
    assert "arrows show the change since the previous run" in again


def test_item_text_is_escaped_everywhere(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seed(db, project, engineer, tmp_path)
    scored(db, project, engineer, run_jobs)
    login(client, engineer.email)
    html = client.get(BASE).text
    assert XSS not in html and ESCAPED in html
    _only_external_scripts(html)
    points = client.get("/api/projects/demo/diversity/points")
    assert points.headers["content-type"].startswith("application/json")
    assert any(XSS in p["preview"] for p in points.json()["points"])


def test_discard_buttons_for_reviewers(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded = seed(db, project, engineer, tmp_path)
    scored(db, project, engineer, run_jobs)
    _member(db, project, "rev@example.com", Role.reviewer)
    token = login(client, "rev@example.com")
    html = client.get(BASE).text
    url = f"{BASE}/duplicates/discard"
    assert html.count(f'hx-post="{url}"') >= 3  # one for all groups, one per group
    assert "hx-confirm=" in html and "Keep one, discard the rest" in html
    assert 'id="map-tag-form"' in html and 'id="map-selection-form"' not in html
    assert f'action="{BASE}/runs"' not in html and 'id="subset-form"' not in html
    group = re.search(
        rf'id="group-(\d+)">(?:(?!class="dup-group").)*?/examples/{seeded.xss[0].id}"', html, re.S
    )
    assert group is not None
    assert client.post(url, data={"group": group.group(1)}).status_code == 403
    done = client.post(url, data={"group": group.group(1), "csrf_token": token},
                       headers={"HX-Request": "true"}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 200 and done.headers["HX-Redirect"].startswith(f"{BASE}?discarded=")
    db.expire_all()
    statuses = sorted(db.get(Example, e.id).status for e in seeded.xss)  # type: ignore[union-attr]
    assert statuses == [ItemStatus.approved, ItemStatus.rejected]
    after = client.get(done.headers["HX-Redirect"]).text
    assert "Discarded 1 near duplicate:" in after and "badge-rejected" in after
    everything = client.post(url, data={"csrf_token": token}, follow_redirects=False)
    assert everything.status_code == 303 and "discarded=" in everything.headers["location"]
    assert client.post(url, data={"group": "x", "csrf_token": token}).status_code == 422


def test_diverse_subset_form(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seed(db, project, engineer, tmp_path)
    scored(db, project, engineer, run_jobs)
    token = login(client, engineer.email)
    url = f"{BASE}/subsets"
    html = client.get(BASE).text
    assert f'action="{url}"' in html and 'name="then_by"' in html
    form = {"name": "diverse", "tau": "0.9", "target": "", "then_by": "novelty"}
    assert client.post(url, data=form, follow_redirects=False).status_code == 403
    low = client.post(url, data={**form, "tau": "0.5", "csrf_token": token})
    assert low.status_code == 422 and "between 0.9 and 1" in low.text
    assert 'value="0.5"' in low.text and 'value="diverse"' in low.text
    blank = client.post(url, data={**form, "name": "", "csrf_token": token})
    assert blank.status_code == 422 and 'id="name-error"' in blank.text
    badby = client.post(url, data={**form, "then_by": "random", "csrf_token": token})
    assert badby.status_code == 422 and 'id="then_by-error"' in badby.text
    made = client.post(url, data={**form, "target": "40", "csrf_token": token},
                       follow_redirects=False)  # fmt: skip
    assert made.status_code == 303
    selection = db.scalar(select(Selection).where(Selection.name == "diverse"))
    assert selection is not None and 0 < selection.item_count <= 40
    assert made.headers["location"] == f"{BASE}?subset={selection.id}#subset"
    shown = client.get(made.headers["location"]).text
    assert "Saved the selection “diverse”" in shown
    assert f'href="/projects/demo/exports?selection_id={selection.id}">Export it</a>' in shown
    exports_page = client.get(f"/projects/demo/exports?selection_id={selection.id}").text
    assert f'<option value="{selection.id}" selected' in exports_page
    clash = client.post(url, data={**form, "csrf_token": token})
    assert clash.status_code == 422 and "already exists" in clash.text
    assert db.scalar(select(func.count()).select_from(Selection)) == 1


def test_annotators_read_outsiders_do_not(
    client: TestClient, db: Session, engineer: User, project: Project, tmp_path: Path,
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    seeded: Seeded = seed(db, project, engineer, tmp_path)
    scored(db, project, engineer, run_jobs)
    _member(db, project, "ann@example.com", Role.annotator)
    token = login(client, "ann@example.com")
    html = client.get(BASE).text
    assert 'id="diversity-map"' in html and 'id="clusters"' in html
    for absent in ("Keep one", 'id="map-tag-form"', 'id="map-selection-form"',
                   f'action="{BASE}/runs"', 'id="subset-form"'):  # fmt: skip
        assert absent not in html, absent
    for path, data in (
        (f"{BASE}/runs", {"tau": "0.9"}),
        (f"{BASE}/duplicates/discard", {}),
        (f"{BASE}/subsets", {"name": "mine"}),
    ):
        posted = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert posted.status_code == 403, path
    assert seeded.items > 0

    make_user(db, "out@example.com", Role.engineer)
    login(client, "out@example.com")
    assert client.get(BASE).status_code == 404
    assert client.get(f"{BASE}/runs/1/progress").status_code == 404
