"""End to end in a real browser: Debian's chromium, driven by Playwright, against the real app
served by uvicorn on a free port with a fresh SQLite database. Import jobs run in a thread
through the real job runner (no Celery worker needed)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Request, expect, sync_playwright

from app.db import session_scope
from app.models import Role
from app.users import service as users
from tests.browser.conftest import CHROMIUM, Server, launch_chromium

ROOT = Path(__file__).resolve().parents[2]
EMAIL, PASSWORD = "admin@example.com", "browser test password"
PAGE_SIZE = 4  # the sample has 6 rows, so the list needs "Load more"
XSS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<div hx-get="/logout" hx-trigger="load">x</div>',
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture
def server(start_server: Callable[..., Server]) -> str:
    live = start_server(TRELLIS_PAGE_SIZE=str(PAGE_SIZE))
    with session_scope(live.factory) as db:
        users.create_user(db, email=EMAIL, password=PASSWORD, role=Role.admin)
    return live.url


def _conversation(*turns: str, system: str = "") -> dict[str, list[dict[str, str]]]:
    """Alternating user/assistant turns, after an optional system prompt."""
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": ("user", "assistant")[i % 2], "content": t} for i, t in enumerate(turns)]
    return {"messages": messages}


SQL_ANSWER = (
    "Instead of `OFFSET`, remember the last id:\n\n"
    "```sql\nSELECT * FROM examples WHERE id < :last ORDER BY id DESC LIMIT 50;\n```"
)


def _sample_file(tmp_path: Path) -> Path:
    rows = [
        _conversation(" ".join(XSS), "Shown as text: " + XSS[0]),
        _conversation(
            "Explain **keyset pagination** in one paragraph.",
            SQL_ANSWER,
            system="You are a concise assistant.",
        ),
        _conversation("Translate to French: Good morning", "Bonjour"),
        _conversation("Name three prime numbers", "2, 3 and 5."),
        _conversation("Write a haiku about gardening"),
        _conversation("What is the capital of Australia?", "Canberra."),
    ]
    path = tmp_path / "sample.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_login_import_and_read_examples_safely(server: str, tmp_path: Path) -> None:
    dialogs: list[str] = []
    logout_requests: list[str] = []
    csp_errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(15_000)

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        def on_request(request: Request) -> None:
            if "/logout" in request.url:
                logout_requests.append(request.url)

        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                csp_errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("request", on_request)
        page.on("console", on_console)

        page.goto(f"{server}/login")
        page.fill("#f-email", EMAIL)
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]:has-text('Log in')")
        page.wait_for_url(f"{server}/projects")

        page.click("text=New project")
        page.fill("#f-slug", "Not A Slug")
        page.click("text=Create project")
        expect(page.locator(".field-error")).to_contain_text("lowercase letters")  # htmx 422 swap
        page.fill("#f-slug", "support-chat")
        page.fill("#f-name", "Support chat")
        page.fill("#f-guidelines", "Prefer **short**, correct answers.")
        page.click("text=Create project")
        page.wait_for_url(f"{server}/projects/support-chat")
        expect(page.locator(".guidelines strong")).to_have_text("short")

        page.click("text=Import data")
        page.set_input_files("#f-file", str(_sample_file(tmp_path)))
        page.click("text=Upload and import")
        page.wait_for_url(f"{server}/jobs/*")
        expect(page.locator("#job-progress")).to_contain_text("Import summary", timeout=30_000)
        expect(page.locator("#job-progress progress")).to_have_attribute("value", "100")
        expect(page.locator("#job-progress")).to_contain_text("examples added")

        page.click("text=Open examples")
        page.wait_for_url(f"{server}/projects/support-chat/examples")
        rows = page.locator("table.rows tbody tr:not(.load-more)")
        expect(rows).to_have_count(PAGE_SIZE)
        page.click("text=Load more")  # htmx appends the next page's rows in place
        expect(rows).to_have_count(6)
        expect(page.locator("tr.load-more")).to_have_count(0)
        expect(page.get_by_text(XSS[0], exact=False).first).to_be_visible()
        if os.environ.get("TRELLIS_SCREENSHOT") == "1":
            (ROOT / "docs").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "docs" / "screenshot.png"), full_page=True)

        page.fill("#flt-q", "canberra")  # live search swaps only the table (htmx)
        expect(rows).to_have_count(1)
        assert "q=canberra" in page.url
        assert "status=" not in page.url  # empty filters stay out of the URL
        page.fill("#flt-q", "")
        expect(rows).to_have_count(PAGE_SIZE)
        page.select_option("#flt-sort", "oldest")  # the payload row is the oldest
        expect(rows.first).to_contain_text(XSS[0])
        assert "sort=oldest" in page.url

        page.click(f"td.preview a:has-text('{XSS[0]}')")
        page.wait_for_url(f"{server}/projects/support-chat/examples/*")
        body = page.locator(".conversation").inner_text()
        for payload in XSS:
            assert payload in body, payload
        expect(page.locator(".conversation script")).to_have_count(0)
        expect(page.locator(".conversation img")).to_have_count(0)
        expect(page.locator(".conversation [hx-get]")).to_have_count(0)
        page.wait_for_timeout(1500)  # time for any injected hx-trigger="load" to have fired

        # still signed in: nothing logged us out behind our back
        page.goto(f"{server}/projects")
        expect(page.locator(".whoami")).to_have_text(EMAIL)
        browser.close()

    assert dialogs == [], dialogs
    assert logout_requests == [], logout_requests
    assert csp_errors == [], csp_errors


def _mmlu_rows(n: int) -> list[list[str]]:
    import csv

    with (ROOT.parent / "shared" / "data" / "mmlu_sociology_test.csv").open(newline="") as f:
        return list(csv.reader(f))[:n]


def test_eval_set_contamination_check_and_review(server: str, tmp_path: Path) -> None:
    """An engineer uploads and freezes a headerless MMLU CSV, runs a check, and reviews the
    flag: the copied question is highlighted and the item's <script> stays text."""
    import csv

    rows = _mmlu_rows(30)
    eval_path = tmp_path / "mmlu30.csv"
    with eval_path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    question = rows[22][0]
    train = [
        _conversation(f"{XSS[0]}\n{question}\n" + "\n".join(rows[22][1:5]), rows[22][3]),
        _conversation("Name three prime numbers", "2, 3 and 5."),
        _conversation("What is the capital of Australia?", "Canberra."),
    ]
    train_path = tmp_path / "train.jsonl"
    train_path.write_text("".join(json.dumps(r) + "\n" for r in train), encoding="utf-8")
    alerts: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)

        def on_dialog(dialog: Dialog) -> None:
            if dialog.type == "confirm":  # hx-confirm on Freeze
                dialog.accept()
            else:
                alerts.append(dialog.message)
                dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(f"{server}/login")
        page.fill("#f-email", EMAIL)
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]:has-text('Log in')")
        page.wait_for_url(f"{server}/projects")
        page.click("text=New project")
        page.fill("#f-slug", "sociology")
        page.fill("#f-name", "Sociology tutor")
        page.click("text=Create project")
        page.wait_for_url(f"{server}/projects/sociology")
        page.click("text=Import data")
        page.set_input_files("#f-file", str(train_path))
        page.click("text=Upload and import")
        expect(page.locator("#job-progress")).to_contain_text("Import summary", timeout=30_000)

        page.goto(f"{server}/projects/sociology/eval-sets")
        page.set_input_files("#f-file", str(eval_path))
        page.fill("#f-name", "mmlu-sociology")
        page.click("button:has-text('Upload')")
        page.wait_for_url(f"{server}/projects/sociology/eval-sets/*")
        page.click("button:has-text('Freeze')")
        expect(page.locator("h1 .badge")).to_have_text("frozen")

        page.goto(f"{server}/projects/sociology/contamination")
        page.click("button:has-text('Run check')")
        flag_link = page.locator("#flags td.num a").first
        expect(flag_link).to_be_visible(timeout=120_000)  # index + check run in worker threads
        flag_link.click()
        page.wait_for_url(f"{server}/projects/sociology/contamination/flags/*")
        marks = page.locator("mark")
        expect(marks.first).to_be_visible()
        assert question.split()[2].lower() in " ".join(marks.all_inner_texts()).lower()
        expect(page.get_by_text(XSS[0], exact=False).first).to_be_visible()
        if os.environ.get("TRELLIS_SCREENSHOT") == "1":
            page.screenshot(path=str(ROOT / "docs" / "contamination.png"), full_page=True)
        browser.close()
    assert alerts == []
