"""The diversity map in a real browser: Debian's chromium, driven by Playwright, against the
real app served by uvicorn with a fresh SQLite database; the diversity jobs run in threads
through the real job runner and the real embedding model.

An engineer runs a diversity check from the page, waits for the map, hovers a point (its
preview, which holds a script tag, shows as text), drags a box to select points, tags them,
and opens an item by clicking its point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect, sync_playwright

from app.db import session_scope
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import ItemStatus, Role
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from tests.browser.conftest import CHROMIUM, Server, launch_chromium

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EMAIL, PASSWORD = "eng@example.com", "browser test password"
SLUG = "diverse"
XSS = "<script>alert(1)</script> <img src=x onerror=alert(2)> What does a compiler do?"
ROWS = 40
TAG = "map-picked"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture
def server(live_server: Server) -> Server:
    return live_server


def _seed(server: Server, tmp_path: Path) -> None:
    """An engineer, a project, and ROWS alpaca rows plus one whose instruction holds markup."""
    rows: list[dict[str, Any]] = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())[:ROWS]
    rows.append({"instruction": XSS, "input": "", "output": "It translates source code."})
    path = tmp_path / "alpaca.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with session_scope(server.factory) as db:
        user = users.create_user(db, email=EMAIL, password=PASSWORD, role=Role.engineer)
        project = projects.create(db, user, ProjectCreate(slug=SLUG, name="Diverse"))
        db.flush()
        import_file(db, project_id=project.id, path=path, user_id=user.id,
                    options=ImportOptions(status=ItemStatus.approved))  # fmt: skip


def _client_points(page: Page, count: int) -> list[dict[str, float]]:
    points: list[dict[str, float]] = page.evaluate(
        "n => Array.from({length: n}, (_, i) => window.trellisDiversityMap.clientPoint(i))", count
    )
    return points


def test_run_hover_box_select_and_tag(server: Server, tmp_path: Path) -> None:
    _seed(server, tmp_path)
    base = server.url
    dialogs: list[str] = []
    csp_errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                csp_errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)

        page.goto(f"{base}/login")
        page.fill("#f-email", EMAIL)
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]:has-text('Log in')")
        page.wait_for_url(f"{base}/projects")

        page.goto(f"{base}/projects/{SLUG}")
        page.click("nav.subnav >> text=Diversity")
        page.wait_for_url(f"{base}/projects/{SLUG}/diversity")
        page.click("button:has-text('Run diversity check')")
        # progress polls, then the finished run reloads the page with the map
        the_map = page.locator("#diversity-map")
        expect(the_map).to_have_attribute("data-state", "ready", timeout=180_000)
        count = ROWS + 1
        expect(the_map).to_have_attribute("data-points", str(count))
        expect(page.locator("#map-status")).to_contain_text(f"{count} items")
        expect(page.locator("#diversity-metrics dd").first).to_have_text(str(count))

        # hover: the preview shows as text, never as markup
        api = f"{base}/api/projects/{SLUG}/diversity/points"
        data = page.request.get(api).json()
        previews = [pt["preview"] for pt in data["points"]]
        target = previews.index(XSS)
        page.locator("#map-canvas").evaluate("c => c.scrollIntoView({block: 'center'})")
        spots = _client_points(page, count)
        page.mouse.move(spots[target]["x"], spots[target]["y"])
        tooltip = page.locator("#map-tooltip")
        expect(tooltip).to_be_visible()
        expect(tooltip.locator(".map-tooltip-text")).to_have_text(XSS)
        expect(tooltip).to_contain_text(f"example {data['points'][target]['id']}")
        expect(page.locator("#map-tooltip script, #map-tooltip img")).to_have_count(0)

        # colour by status: one legend entry (every item is approved)
        page.select_option("#map-colour", "status")
        expect(page.locator("#map-legend li")).to_have_count(1)
        expect(page.locator("#map-legend")).to_contain_text(f"approved ({count})")

        # box select: the left half of the map
        page.click("#map-select-mode")
        expect(page.locator("#map-select-mode")).to_have_attribute("aria-pressed", "true")
        frame = page.locator("#map-canvas").bounding_box()
        assert frame is not None
        x0, y0 = frame["x"] + 2, frame["y"] + 2
        x1, y1 = frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] - 2
        inside = [i for i, s in enumerate(spots) if x0 <= s["x"] <= x1 and y0 <= s["y"] <= y1]
        assert 0 < len(inside) < count
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
        expect(page.locator("#map-box")).to_be_visible()
        page.mouse.move(x1, y1, steps=5)
        page.mouse.up()
        expect(page.locator("#map-box")).to_be_hidden()
        expect(the_map).to_have_attribute("data-selected", str(len(inside)))
        expect(page.locator("#map-selected")).to_have_text(f"{len(inside)} selected")

        page.fill("#map-tag", TAG)
        page.click("#map-tag-form button")
        expect(page.locator("#map-result")).to_contain_text(f"Tagged {len(inside)} item")
        tagged = page.request.get(
            f"{base}/api/projects/{SLUG}/examples", params={"tag": TAG, "limit": 500}
        ).json()
        expected = {data["points"][i]["id"] for i in inside}
        assert {item["id"] for item in tagged["items"]} == expected
        assert all(item["tags"] == [TAG] for item in tagged["items"])

        # a click (no drag) on a point opens its item
        page.click("#map-select-mode")
        page.mouse.click(spots[target]["x"], spots[target]["y"])
        page.wait_for_url(f"{base}/projects/{SLUG}/examples/{data['points'][target]['id']}")
        expect(page.get_by_text("What does a compiler do?").first).to_be_visible()
        browser.close()

    assert dialogs == [], dialogs
    assert csp_errors == [], csp_errors
