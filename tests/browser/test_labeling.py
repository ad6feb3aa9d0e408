"""The labeling view in a real browser: Debian's chromium, driven by Playwright, against the real
app under uvicorn with a fresh SQLite database.

(a) an annotator labels three items with the keyboard alone (rate, edit a turn, submit);
(b) turns holding markup and htmx attributes render as text: no dialog, no stray request;
(c) two annotators edit the same item; the second save gets the conflict view with both texts
    and "Keep mine" saves; (d) a draft autosaves and is restored on reload."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, Request, expect, sync_playwright
from sqlalchemy import select

from app.db import session_scope
from app.formats import example_hash
from app.models import Example, ItemStatus, Label, LabelState, ProjectMember, Role, Source
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from tests.browser.conftest import CHROMIUM, Server, launch_chromium

PASSWORD = "browser test password"
SLUG = "chat"
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


def _seed(
    server: Server,
    conversations: list[list[dict[str, str]]],
    annotators: tuple[str, ...] = ("ann@example.com",),
    min_submissions: int = 1,
) -> list[int]:
    """A project with pending examples and annotator members; returns the example ids."""
    with session_scope(server.factory) as db:
        owner = users.create_user(db, email="eng@example.com", password=PASSWORD,
                                  role=Role.engineer)  # fmt: skip
        project = projects.create(db, owner, ProjectCreate(slug=SLUG, name="Support chat"))
        project.min_submissions = min_submissions
        project.guidelines = "Rate **helpfulness**."
        for email in annotators:
            user = users.create_user(db, email=email, password=PASSWORD, role=Role.annotator)
            db.flush()
            db.add(ProjectMember(project_id=project.id, user_id=user.id, role=Role.annotator))
        examples = [
            Example(project_id=project.id, source=Source.human, status=ItemStatus.draft,
                    messages=messages, tags=[], content_hash=example_hash(messages, None))
            for messages in conversations
        ]  # fmt: skip
        db.add_all(examples)
        db.flush()
        return [e.id for e in examples]


def _chat(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


def _login(browser: Browser, server: Server, email: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server.url}/login")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url(f"{server.url}/projects")
    return page


def _start_labeling(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/projects/{SLUG}/label")
    page.get_by_role("button", name="Label examples").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/projects/{SLUG}/label/examples/*")


def _labels(server: Server) -> list[Any]:
    with session_scope(server.factory) as db:
        return list(db.execute(select(Label.item_id, Label.state, Label.rating)).all())


def _messages(server: Server, example_id: int) -> list[dict[str, Any]]:
    with session_scope(server.factory) as db:
        example = db.get(Example, example_id)
        assert example is not None
        return example.messages


def test_label_three_items_with_the_keyboard_only(live_server: Server, browser: Browser) -> None:
    ids = _seed(live_server, [_chat(f"Question {i}?", f"Answer {i}.") for i in range(3)])
    page = _login(browser, live_server, "ann@example.com")
    _start_labeling(page, live_server)
    url = f"{live_server.url}/projects/{SLUG}/label/examples"
    expect(page.locator("details.guidelines-box summary")).to_contain_text("Guidelines")

    # the shortcut list opens and closes with "?"
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_hidden()

    ratings = (4, 2, 5)
    for n, (item_id, rating) in enumerate(zip(ids, ratings, strict=True)):
        assert page.url.startswith(f"{url}/{item_id}")
        page.keyboard.press(str(rating))
        expect(page.locator(f'input[name="rating"][value="{rating}"]')).to_be_checked()
        page.keyboard.press("e")  # edit mode: the assistant turn's text box has the focus
        box = page.locator("textarea.turn-text[data-role='assistant']")
        expect(box).to_be_focused()
        page.keyboard.type(f" Edited {n}. 3")  # digits typed into a text box are just text
        expect(page.locator('input[name="rating"][value="3"]')).not_to_be_checked()
        page.keyboard.press("Control+Enter")
        if n < 2:
            page.wait_for_url(f"{url}/{ids[n + 1]}?done=submitted&prev={item_id}")
        else:
            page.wait_for_url(
                f"{live_server.url}/projects/{SLUG}/label?empty=examples&done=submitted"
                f"&prev={item_id}"
            )
    expect(page.locator("#queue-empty")).to_contain_text("Nothing left")

    stored = {item_id: (state, rating) for item_id, state, rating in _labels(live_server)}
    assert stored == {i: (LabelState.submitted, r) for i, r in zip(ids, ratings, strict=True)}
    for n, item_id in enumerate(ids):
        assert _messages(live_server, item_id)[-1]["content"] == f"Answer {n}. Edited {n}. 3"


def test_markup_in_turns_renders_as_text(live_server: Server, browser: Browser) -> None:
    text = " ".join(XSS)
    (item_id,) = _seed(live_server, [_chat(f"Say {text}", f"Sure: {text}\n\n`{XSS[0]}`")])
    page = _login(browser, live_server, "ann@example.com")
    dialogs: list[str] = []
    requests: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request: Request) -> None:
        requests.append(f"{request.method} {request.url.removeprefix(live_server.url)}")

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    page.goto(f"{live_server.url}/projects/{SLUG}/label/examples/{item_id}")
    view = page.locator(".label-main")
    for payload in XSS:
        expect(view).to_contain_text(payload)  # shown literally
    expect(view.locator("script")).to_have_count(0)
    expect(view.locator("img")).to_have_count(0)
    expect(view.locator("[hx-get], [hx-trigger]")).to_have_count(0)
    page.keyboard.press("e")  # the raw text in the editor is text too
    expect(page.locator("textarea.turn-text[data-role='assistant']")).to_have_value(
        f"Sure: {text}\n\n`{XSS[0]}`"
    )
    page.wait_for_timeout(1500)  # time for any injected handler or hx-trigger="load" to fire
    page.keyboard.press("e")
    page.wait_for_timeout(300)

    assert dialogs == []
    unexpected = [
        r for r in requests
        if not r.startswith(f"GET /projects/{SLUG}/label/examples/{item_id}")
        and not r.startswith(("GET /static/", "GET /favicon.ico"))
    ]  # fmt: skip
    assert unexpected == [], unexpected
    page.goto(f"{live_server.url}/projects")
    expect(page.locator(".whoami")).to_have_text("ann@example.com")  # not logged out


def test_two_annotators_edit_one_item_and_the_second_sees_the_conflict(
    live_server: Server, browser: Browser
) -> None:
    (item_id,) = _seed(
        live_server,
        [_chat("What is 2 + 2?", "It is 4.")],
        annotators=("one@example.com", "two@example.com"),
        min_submissions=2,  # both annotators get the item
    )
    first = _login(browser, live_server, "one@example.com")
    second = _login(browser, live_server, "two@example.com")
    for page in (first, second):
        _start_labeling(page, live_server)
        assert page.url.endswith(f"/label/examples/{item_id}")

    first.keyboard.press("e")
    first.keyboard.type(" (first)")
    second.keyboard.press("e")
    second.keyboard.type(" Second <b>edit</b>.")
    first.keyboard.press("Control+Enter")
    first.wait_for_url("**/label?empty=examples*")
    second.keyboard.press("3")  # focus is in the text box: this types a "3"
    second.keyboard.press("Escape")  # leave the text box: keys are shortcuts again
    second.keyboard.press("3")
    second.keyboard.press("Control+Enter")

    mine = second.locator("#conflict-mine")
    theirs = second.locator("#conflict-theirs")
    expect(mine).to_contain_text("It is 4. Second <b>edit</b>.3")
    expect(theirs).to_contain_text("It is 4. (first)")
    expect(mine.locator("b")).to_have_count(0)
    assert _messages(live_server, item_id)[-1]["content"] == "It is 4. (first)"

    second.get_by_role("button", name="Keep mine").click()
    second.wait_for_url("**/label?empty=examples*")
    assert _messages(live_server, item_id)[-1]["content"] == "It is 4. Second <b>edit</b>.3"
    stored = {(state, rating) for _, state, rating in _labels(live_server)}
    assert stored == {(LabelState.submitted, None), (LabelState.submitted, 3)}
    with session_scope(live_server.factory) as db:
        example = db.get(Example, item_id)
        assert example is not None and example.status is ItemStatus.submitted


def test_a_draft_autosaves_and_comes_back_after_a_reload(
    live_server: Server, browser: Browser
) -> None:
    (item_id,) = _seed(live_server, [_chat("Name a colour.", "Blue.")])
    page = _login(browser, live_server, "ann@example.com")
    _start_labeling(page, live_server)
    page.keyboard.press("2")
    page.keyboard.press("e")
    page.keyboard.type(" Or green.")
    expect(page.locator("#draft-status")).to_have_text("Draft saved", timeout=10_000)
    page.reload()
    expect(page.locator("#draft-status")).to_have_text("Draft restored")
    expect(page.locator('input[name="rating"][value="2"]')).to_be_checked()
    expect(page.locator("#label-form")).to_have_class("label-form editing")  # edits restored
    expect(page.locator("textarea.turn-text[data-role='assistant']")).to_have_value(
        "Blue. Or green."
    )
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**/label?empty=examples*")
    assert _messages(live_server, item_id)[-1]["content"] == "Blue. Or green."


def test_answer_key_undo_discard_and_guidelines(live_server: Server, browser: Browser) -> None:
    """Issue 18: an item that needs a response gets its answer from R (typed straight in), a
    submit without one is refused, the guidelines open on the first item and G toggles them,
    U undoes the last submit, D discards; progress reads "n of N"; line breaks are kept."""
    bare = [{"role": "user", "content": "Two lines:\nfirst\nsecond"}]
    first, second = _seed(live_server, [bare, _chat("Question?", "Answer.")])
    with session_scope(live_server.factory) as db:
        example = db.get(Example, first)
        assert example is not None
        example.needs_response = True
    page = _login(browser, live_server, "ann@example.com")
    _start_labeling(page, live_server)
    url = f"{live_server.url}/projects/{SLUG}/label/examples"
    guidelines = page.locator("details#guidelines")
    expect(guidelines).to_have_attribute("open", "")
    page.keyboard.press("g")
    expect(guidelines).not_to_have_attribute("open", "")
    expect(page.locator("#label-progress")).to_have_text("1 of 2")
    expect(page.locator(".turn-user .turn-body br")).to_have_count(2)

    page.keyboard.press("3")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#label-error")).to_contain_text("needs a response")
    page.keyboard.press("r")
    answer = page.locator("textarea.turn-text[data-role='assistant']")
    expect(answer).to_be_focused()
    page.keyboard.type("Two: first and second.")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{url}/{second}?done=submitted&prev={first}")
    expect(guidelines).not_to_have_attribute("open", "")  # one key away after the first
    expect(page.locator("#label-progress")).to_have_text("2 of 2")
    assert _messages(live_server, first)[-1] == {
        "role": "assistant",
        "content": "Two: first and second.",
    }

    page.keyboard.press("u")
    page.wait_for_url(f"{url}/{first}?undone=1")
    assert {i: s for i, s, _ in _labels(live_server)}[first] is LabelState.draft
    page.keyboard.press("d")
    page.wait_for_url(f"{url}/{second}?done=discarded&prev={first}")
    assert {i: s for i, s, _ in _labels(live_server)}[first] is LabelState.discarded
