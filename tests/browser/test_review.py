"""A reviewer in a real browser (Debian's chromium through Playwright, the live server): opens
the review view of one pair and approves it with the A key, opens another and swaps it with X.
The database then shows the first approved and the second's sides exchanged by a "swap"
revision."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, expect, sync_playwright
from sqlalchemy import select

from app.db import session_scope
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import ItemStatus, PreferencePair, ProjectMember, Revision, Role
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from tests.browser.conftest import CHROMIUM, Server, launch_chromium

EMAIL, PASSWORD = "reviewer@example.com", "browser test password"
XSS = "<script>alert(1)</script> <img src=x onerror=alert(1)>"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture
def server(start_server: Callable[..., Server], tmp_path: Path) -> tuple[Server, list[int]]:
    """A project with two imported pairs and a reviewer who is a member of it."""
    live = start_server()
    rows = [
        {"prompt": "Name a prime number " + XSS, "chosen": "7", "rejected": "8"},
        {"prompt": "Capital of Japan?", "chosen": "Kyoto", "rejected": "Tokyo"},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with session_scope(live.factory) as db:
        owner = users.create_user(
            db, email="eng@example.com", password=PASSWORD, role=Role.engineer
        )
        reviewer = users.create_user(db, email=EMAIL, password=PASSWORD, role=Role.reviewer)
        project = projects.create(db, owner, ProjectCreate(slug="prefs", name="Preferences"))
        db.add(ProjectMember(project_id=project.id, user_id=reviewer.id, role=Role.reviewer))
        import_file(db, project_id=project.id, path=path, options=ImportOptions(), user_id=None)
        db.flush()
        ids = list(
            db.scalars(
                select(PreferencePair.id)
                .where(PreferencePair.project_id == project.id)
                .order_by(PreferencePair.id)
            )
        )
    return live, ids


def test_reviewer_approves_with_a_and_swaps_with_x(server: tuple[Server, list[int]]) -> None:
    live, (first, second) = server
    base = live.url
    dialogs: list[str] = []
    csp_errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)

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

        page.goto(f"{base}/projects/prefs/review")
        expect(page.locator("#review-table")).to_contain_text("2 items waiting")
        page.click(f"a[href='/projects/prefs/review/pair/{first}']:not(.num)")
        page.wait_for_url(f"{base}/projects/prefs/review/pair/{first}")
        expect(page.locator("#chosen-h")).to_have_text("Chosen")
        expect(page.locator("#rejected-h")).to_have_text("Rejected")
        expect(page.locator(".pair-prompt")).to_contain_text(XSS)  # shown as text

        # Typing in the comment box must not trigger the keys.
        page.fill("#f-comment", "a r x n")
        page.focus("#f-comment")
        page.keyboard.press("a")
        page.wait_for_timeout(300)
        assert page.url == f"{base}/projects/prefs/review/pair/{first}"
        page.fill("#f-comment", "")
        page.evaluate("document.activeElement.blur()")

        page.keyboard.press("?")
        expect(page.locator("#review-shortcuts")).to_be_visible()
        expect(page.locator("#review-shortcuts")).to_contain_text("swap chosen and rejected")
        page.keyboard.press("Escape")
        expect(page.locator("#review-shortcuts")).to_be_hidden()

        page.keyboard.press("a")  # approve, then on to the other pair (the default)
        page.wait_for_url(
            f"{base}/projects/prefs/review/pair/{second}?done=approve&decided=pair-{first}"
        )
        expect(page.locator("#notice")).to_contain_text("Approved.")
        expect(page.locator("#notice a")).to_have_text(f"Pair {first}")
        expect(page.locator(".pair-chosen")).to_contain_text("Kyoto")
        page.keyboard.press("x")
        page.wait_for_url(f"{base}/projects/prefs/review/pair/{second}?done=swap")
        expect(page.locator(".pair-chosen .conversation")).to_contain_text("Tokyo")
        expect(page.locator(".pair-rejected .conversation")).to_contain_text("Kyoto")
        expect(page.locator(".revision-history")).to_contain_text("swap")
        browser.close()

    assert dialogs == [], dialogs
    assert csp_errors == [], csp_errors
    with session_scope(live.factory) as db:
        approved = db.get(PreferencePair, first)
        swapped = db.get(PreferencePair, second)
        assert approved is not None and swapped is not None
        assert approved.status is ItemStatus.approved
        assert swapped.status is ItemStatus.submitted
        assert swapped.chosen == [{"role": "assistant", "content": "Tokyo"}]
        assert swapped.rejected == [{"role": "assistant", "content": "Kyoto"}]
        revisions = list(
            db.scalars(
                select(Revision).where(Revision.item_kind == "pair", Revision.item_id == second)
            )
        )
        assert [r.action for r in revisions] == ["swap"]
        assert revisions[0].before is not None
        assert revisions[0].before["chosen"][0]["content"] == "Kyoto"


def test_reviewer_picks_rows_in_the_pairs_list_and_tags_them(
    server: tuple[Server, list[int]],
) -> None:
    live, ids = server
    base = live.url
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{base}/login")
        page.fill("#f-email", EMAIL)
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]:has-text('Log in')")
        page.wait_for_url(f"{base}/projects")
        page.goto(f"{base}/projects/prefs/pairs")
        expect(page.locator("[data-picked-count]")).to_have_text("0")
        page.check("input[data-pick-all]")
        expect(page.locator("[data-picked-count]")).to_have_text("2")
        page.select_option("select[name=action]", "tag")
        page.fill("input[name=new_tag]", "geography")
        page.click("#bulk-form button[type=submit]")
        expect(page.locator("#list-confirm [data-count]")).to_have_text("2")
        page.click("#list-confirm button[type=submit]")
        expect(page.locator("#list-done [data-applied]")).to_contain_text("2 of 2")
        browser.close()
    with session_scope(live.factory) as db:
        tags = [db.get(PreferencePair, i).tags for i in ids]  # type: ignore[union-attr]
    assert tags == [["geography"], ["geography"]]
