"""The dashboard page and its JSON twin: progress, sources, ratings and annotators, from rows
made with the ORM."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.dashboard import service
from app.models import ItemStatus, LabelState, Project, Role, Source, User
from tests.factories import (
    ESCAPED,
    XSS,
    add_member,
    bearer,
    label_item,
    login,
    make_example,
    make_member,
    make_pair,
    raw_user,
)

PAGE = "/projects/demo/dashboard"
API = "/api/projects/demo/dashboard"


def seed_items(db: Session, project: Project) -> None:
    for status, n in ((ItemStatus.draft, 3), (ItemStatus.submitted, 2), (ItemStatus.approved, 4),
                      (ItemStatus.rejected, 1), (ItemStatus.needs_revision, 1)):  # fmt: skip
        for i in range(n):
            make_example(
                db, project, status=status, source=Source.human if i % 2 else Source.imported
            )
    for status in (ItemStatus.draft, ItemStatus.approved, ItemStatus.approved):
        make_pair(db, project, status=status, source=Source.synthetic)
    make_pair(db, project, status=ItemStatus.needs_revision, source=Source.human)
    db.commit()


def test_counts_and_json_match_the_seeded_rows(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    seed_items(db, project)
    headers = bearer(client, db, engineer)
    data = client.get(API, headers=headers).json()
    assert data["project"] == "demo"
    ex, pairs = data["examples"], data["pairs"]
    assert ex["total"] == 11
    assert ex["status"] == {"draft": 3, "submitted": 2, "approved": 4, "rejected": 1,
                            "needs_revision": 1}  # fmt: skip
    assert ex["source"] == {"human": 4, "synthetic": 0, "imported": 7, "feedback": 0}
    assert ex["real_share"] == 1.0
    assert pairs["status"] == {"draft": 1, "submitted": 0, "approved": 2, "rejected": 0,
                               "needs_revision": 1}  # fmt: skip
    assert pairs["source"] == {"human": 1, "synthetic": 3, "imported": 0, "feedback": 0}
    assert pairs["real_share"] == pytest.approx(0.25)
    assert data["warnings"] == []

    login(client, engineer.email)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.text
    assert f'href="{PAGE}" aria-current="page">Dashboard</a>' in html
    assert 'href="/projects/demo/agreement"' in html
    # every chart carries its numbers for screen readers, and the legend shows them too
    assert ('aria-label="Examples by status: pending 3, submitted 2, approved 4, rejected 1, '
            'needs revision 1 (total 11)"') in html  # fmt: skip
    assert (
        'aria-label="Pairs by source: human 1, synthetic 3, imported 0, feedback 0 (total 4)"'
        in html
    )
    assert '<svg class="stacked-bar"' in html and 'role="img"' in html
    progress = re.search(r'<figure class="chart chart-stacked" id="progress-examples">.*?</figure>',
                         html, re.S)  # fmt: skip
    assert progress is not None
    # widths are the shares: 4 approved of 11 examples
    assert re.search(
        r'class="seg seg-approved" x="[\d.]+" y="0" width="36.3636"', progress.group(0)
    )
    assert 'needs revision <strong class="num">1</strong>' in progress.group(0)


def test_real_data_warning_appears_under_twenty_percent_and_goes_away(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    make_example(db, project, source=Source.human)
    for _ in range(5):
        make_example(db, project, source=Source.synthetic)
    db.commit()
    headers = bearer(client, db, engineer)
    data = client.get(API, headers=headers).json()
    assert data["examples"]["real_share"] == pytest.approx(1 / 6)
    [warning] = data["warnings"]
    assert "16.6% of the examples are real" in warning
    login(client, engineer.email)
    html = client.get(PAGE).text
    assert 'class="alert alert-warn real-share-warning" role="alert"' in html
    assert "16.6% of the examples are real" in html

    # one more real example: 2 of 7 (28.6 %) is above the floor
    make_example(db, project, source=Source.imported)
    db.commit()
    assert client.get(API, headers=headers).json()["warnings"] == []
    assert "real-share-warning" not in client.get(PAGE).text

    # exactly 20 % is not under the floor; just under it is (and is not rounded up to 20 %)
    for _ in range(3):
        make_example(db, project, source=Source.synthetic)
    db.commit()
    assert client.get(API, headers=headers).json()["examples"]["real_share"] == 0.2
    assert client.get(API, headers=headers).json()["warnings"] == []
    for _ in range(5):
        make_example(db, project, source=Source.synthetic)
    make_example(db, project, source=Source.human)
    db.commit()  # 3 real of 16 = 18.75 %
    [warning] = client.get(API, headers=headers).json()["warnings"]
    assert "Only 18.7% of the examples" in warning


def test_median_seconds_and_counts_per_annotator(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    ann = make_member(db, project, "ann@example.com")
    bob = make_member(db, project, "bob@example.com")
    items = [make_example(db, project, status=ItemStatus.submitted) for _ in range(8)]
    # ann: 10, 30, 20 submitted -> 20; a skipped label's time does not count
    for item, seconds in zip(items, (10.0, 30.0, 20.0), strict=False):
        label_item(db, item, ann, rating=3, seconds=seconds)
    label_item(db, items[3], ann, state=LabelState.skipped, seconds=500.0)
    label_item(db, items[4], ann, state=LabelState.discarded)
    # bob: 5, 15, 40 submitted and 100 returned (submitted, then sent back) -> 27.5;
    # a label without a time is left out
    for item, seconds in zip(items[:4], (5.0, 15.0, 40.0, None), strict=True):
        label_item(db, item, bob, rating=4, seconds=seconds)
    label_item(db, items[4], bob, state=LabelState.returned, seconds=100.0)
    label_item(db, items[5], bob, state=LabelState.draft)
    db.commit()

    figures = service.dashboard(db, project)
    by_email = {a.email: a for a in figures.annotators}
    assert by_email["ann@example.com"].median_seconds == pytest.approx(20.0)
    assert by_email["bob@example.com"].median_seconds == pytest.approx(27.5)
    assert by_email["ann@example.com"].labels == {
        "draft": 0, "submitted": 3, "skipped": 1, "discarded": 1, "returned": 0}  # fmt: skip
    assert by_email["bob@example.com"].labels == {
        "draft": 1, "submitted": 4, "skipped": 0, "discarded": 0, "returned": 1}  # fmt: skip

    login(client, engineer.email)
    html = client.get(PAGE).text
    row = re.search(r'<th scope="row">bob@example.com</th>.*?</tr>', html, re.S)
    assert row is not None
    cells = dict(re.findall(r'data-(?:state|col)="(\w+)">([^<]*)<', row.group(0)))
    assert cells == {"submitted": "4", "skipped": "0", "discarded": "0", "returned": "1",
                     "draft": "1", "median": "27.5"}  # fmt: skip
    assert bob.id != ann.id


def test_rating_histograms_from_labels_and_from_items(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    ann = make_member(db, project, "ann@example.com")
    bob = make_member(db, project, "bob@example.com")
    rated = [make_example(db, project, status=ItemStatus.submitted, rating=r) for r in (5, 5, 4, 1)]
    make_example(db, project, rating=7)  # imported out of range: counted apart
    for item, (a, b) in zip(rated, ((5, 5), (5, 4), (4, 4), (1, 2)), strict=True):
        label_item(db, item, ann, rating=a)
        label_item(db, item, bob, rating=b)
    label_item(
        db, rated[0], make_member(db, project, "cat@example.com"), state=LabelState.draft, rating=1
    )
    p = make_pair(db, project, rating=3)
    label_item(db, p, ann, rating=2, preference="chosen")
    db.commit()

    data = client.get(API, headers=bearer(client, db, engineer)).json()
    ex = data["examples"]
    assert ex["label_ratings"] == {"counts": {"1": 1, "2": 1, "3": 0, "4": 3, "5": 3},
                                   "other": 0, "total": 8}  # fmt: skip
    assert ex["item_ratings"] == {"counts": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 2},
                                  "other": 1, "total": 5}  # fmt: skip
    assert data["pairs"]["label_ratings"]["counts"]["2"] == 1
    assert data["pairs"]["item_ratings"]["counts"]["3"] == 1

    login(client, engineer.email)
    html = client.get(PAGE).text
    assert ('aria-label="Annotators&#39; ratings of examples: 1 1, 2 1, 3 0, 4 3, 5 3 '
            '(total 8)"') in html  # fmt: skip
    assert 'aria-label="Ratings stored on examples: 1 1, 2 0, 3 0, 4 1, 5 2 (total 4)"' in html
    assert "1 rating outside 1\u20135 not drawn." in html
    assert "From labels: each annotator&#39;s rating (8)" in html


def test_one_query_per_chart_whatever_the_number_of_items(
    db: Session, engineer: User, project: Project
) -> None:
    ann = make_member(db, project, "ann@example.com")

    def count_statements() -> int:
        seen: list[str] = []

        def record(*args: object) -> None:
            seen.append(str(args[2]))

        bind = db.connection()
        event.listen(bind, "before_cursor_execute", record)
        try:
            service.dashboard(db, project)
        finally:
            event.remove(bind, "before_cursor_execute", record)
        return len(seen)

    for i in range(3):
        label_item(db, make_example(db, project, rating=3), ann, rating=3, seconds=float(i))
    db.commit()
    few = count_statements()
    for i in range(40):
        item = make_example(db, project, rating=i % 5 + 1, source=Source.synthetic)
        label_item(db, item, ann, rating=i % 5 + 1, seconds=float(i))
        make_pair(db, project)
    db.commit()
    assert count_statements() == few
    assert few <= 12


def test_members_see_it_others_get_404_and_user_text_is_escaped(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project
) -> None:
    project.name = XSS
    odd = raw_user(db, f"{XSS}@example.com")
    add_member(db, project, odd, Role.annotator)
    label_item(db, make_example(db, project), odd, rating=2, seconds=3.0)
    db.commit()
    login(client, annotator.email)
    assert client.get(PAGE).status_code == 404
    assert client.get(API).status_code == 404
    client.cookies.clear()
    add_member(db, project, annotator, Role.annotator)
    login(client, annotator.email)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert XSS not in page.text
    assert ESCAPED in page.text  # the project name and the odd email, as text
    assert f"{ESCAPED}@example.com" in page.text
