"""Example and pair pages: lists with filters and keyset paging, details, escaping of user text."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.items.schemas import ListFilter
from app.models import Project, Role, User
from app.pairs import service as pairs
from tests.factories import XSS_PAYLOADS, Importer, add_member, chat, login, make_user


def _first_example_id(db: Session, project: Project) -> int:
    rows, _, _ = examples.list_examples(db, project, ListFilter(limit=1))
    return rows[0].id


def _assert_escaped(page: str, payload: str) -> None:
    assert payload not in page, payload
    assert html.escape(payload, quote=False) in page or html.escape(payload) in page, payload


def test_user_text_is_escaped_on_list_and_detail(
    client: TestClient, db: Session, engineer: User, project: Project, import_rows: Importer
) -> None:
    turns = [
        {"role": "system", "content": XSS_PAYLOADS[2]},
        {"role": "user", "content": " ".join(XSS_PAYLOADS)},
        {
            "role": "assistant",
            "content": XSS_PAYLOADS[0] + "\n\n```python\nprint('<b>hi</b>')\n```",
        },
    ]
    import_rows(project, [{"messages": turns}])
    login(client, engineer.email)
    listing = client.get("/projects/demo/examples")
    detail = client.get(f"/projects/demo/examples/{_first_example_id(db, project)}")
    assert listing.status_code == 200
    assert detail.status_code == 200
    for page in (listing.text, detail.text):
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert re.search(r'<[^>]*hx-get="/logout"', page) is None  # text, never an element
    for payload in XSS_PAYLOADS:
        _assert_escaped(detail.text, payload)
    # the list shows the first user turn (escaped, then possibly truncated)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text
    # code blocks keep their structure, their content stays text
    assert '<pre><code class="language-python">' in detail.text
    assert "&lt;b&gt;hi&lt;/b&gt;" in detail.text
    assert "hx-disable" in detail.text


def test_example_detail_shows_turns_tools_metadata_and_history(
    client: TestClient, db: Session, engineer: User, project: Project, import_rows: Importer
) -> None:
    tools = [{"type": "function", "function": {"name": "lookup_weather", "parameters": {}}}]
    import_rows(project, [{**chat("What's **the** weather?", "Sunny."), "tools": tools}])
    example_id = _first_example_id(db, project)
    examples.update(
        db, project, example_id, engineer, ExampleUpdate(version=1, tags=["weather"], rating=4)
    )
    db.commit()
    login(client, engineer.email)
    page = client.get(f"/projects/demo/examples/{example_id}")
    assert page.status_code == 200
    assert (
        "What&#39;s <strong>the</strong> weather?" in page.text
        or "What's <strong>the</strong> weather?" in page.text
    )
    assert "lookup_weather" in page.text
    assert 'class="turn turn-user"' in page.text
    assert 'class="turn turn-assistant"' in page.text
    assert "weather" in page.text
    assert "v2" in page.text
    assert "eng@example.com" in page.text
    assert "rating, tags" in page.text


def test_example_list_filters_and_keyset_paging(
    client: TestClient,
    db: Session,
    engineer: User,
    project: Project,
    import_rows: Importer,
    settings: Settings,
) -> None:
    settings.page_size = 3
    import_rows(project, [chat(f"question {i}") for i in range(7)])
    import_rows(project, [{"messages": [{"role": "user", "content": "unanswered"}]}])
    login(client, engineer.email)

    first = client.get("/projects/demo/examples")
    assert first.headers["vary"] == "HX-Request"
    assert "8 examples" in first.text
    assert first.text.count('class="preview"') == 3
    next_link = re.search(r'hx-get="(/projects/demo/examples\?after=[^"]+)"', first.text)
    assert next_link
    more = client.get(html.unescape(next_link.group(1)), headers={"HX-Request": "true"})
    assert more.status_code == 200
    assert more.text.lstrip().startswith("<tr")
    assert "<html" not in more.text
    assert more.text.count('class="preview"') == 3

    drafts = client.get("/projects/demo/examples?status=draft&q=unanswered")
    assert "1 example match" in drafts.text
    assert "needs response" in drafts.text
    assert 'value="unanswered"' in drafts.text
    table = client.get("/projects/demo/examples?q=question+6", headers={"HX-Request": "true"})
    assert table.text.lstrip().startswith('<div id="example-table"')
    assert "question 6" in table.text
    assert "question 5" not in table.text
    assert client.get("/projects/demo/examples?sort=oldest").text.index("question 0") > 0
    assert client.get("/projects/demo/examples?status=bogus").status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/projects/demo",
        "/projects/demo/examples",
        "/projects/demo/pairs",
        "/projects/demo/examples/{example}",
        "/projects/demo/pairs/{pair}",
    ],
)
def test_project_pages_are_200_for_members_and_404_for_others(
    client: TestClient,
    db: Session,
    annotator: User,
    reviewer_outsider: User,
    project: Project,
    import_rows: Importer,
    path: str,
) -> None:
    import_rows(project, [chat("hello")])
    import_rows(project, [{"prompt": "p", "chosen": "good", "rejected": "bad"}])
    add_member(db, project, annotator, Role.annotator)
    pair_id = pairs.list_pairs(db, project, ListFilter(limit=1))[0][0].id
    url = path.format(example=_first_example_id(db, project), pair=pair_id)
    login(client, annotator.email)
    assert client.get(url).status_code == 200
    client.cookies.clear()
    login(client, reviewer_outsider.email)
    missing = client.get(url)
    assert missing.status_code == 404
    assert "not found" in missing.text


def test_missing_items_are_404(client: TestClient, engineer: User, project: Project) -> None:
    login(client, engineer.email)
    assert client.get("/projects/demo/examples/999999").status_code == 404
    assert client.get("/projects/demo/pairs/999999").status_code == 404
    assert client.get("/projects/nope/examples").status_code == 404


def test_pair_detail_puts_chosen_beside_rejected(
    client: TestClient, db: Session, engineer: User, project: Project, import_rows: Importer
) -> None:
    import_rows(
        project,
        [{"prompt": "Pick one <b>now</b>", "chosen": "The good one", "rejected": "The bad one"}],
    )
    login(client, engineer.email)
    listing = client.get("/projects/demo/pairs")
    assert "1 pair" in listing.text
    assert "Pick one &lt;b&gt;now&lt;/b&gt;" in listing.text
    pair_id = re.search(r"/projects/demo/pairs/(\d+)", listing.text).group(1)  # type: ignore[union-attr]
    page = client.get(f"/projects/demo/pairs/{pair_id}")
    assert page.status_code == 200
    text = page.text
    assert text.index("Prompt") < text.index("Chosen") < text.index("Rejected")
    assert text.index("The good one") < text.index("The bad one")
    assert 'class="pair-columns"' in text
    assert "Pick one &lt;b&gt;now&lt;/b&gt;" in text


@pytest.fixture
def reviewer_outsider(db: Session) -> User:
    return make_user(db, "outsider@example.com", Role.reviewer)
