"""The agreement page and its JSON: alpha on ratings (checked against the `krippendorff`
package), kappa per annotator pair on preferences, and the disagreements to adjudicate."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import krippendorff
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Example, ItemStatus, LabelState, PreferencePair, Project, Role, User
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

PAGE = "/projects/demo/agreement"
API = "/api/projects/demo/agreement"
NAN = math.nan

# Ratings of eight examples by annotators a, b, c (None: no judged label).
RATINGS: list[tuple[int | None, int | None, int | None]] = [
    (5, 5, 4),
    (1, 3, None),  # 2 apart: a disagreement
    (4, 4, None),
    (2, None, 5),  # 3 apart
    (3, None, None),  # one rating: drops out of alpha
    (3, 4, 3),  # 1 apart: noise
    (2, None, None),  # b's draft below does not count
    (1, 1, None),  # a's label was returned by a reviewer: still a judgement
]
# Preferences of ten pairs by a and b: the 3 x 3 table of tests/agreement/test_kappa.py
# (agreement 0.7, kappa 0.32 / 0.62); c joins on the first two.
PREFERENCES = (
    [("chosen", "chosen")] * 4
    + [("chosen", "rejected"), ("rejected", "rejected"), ("rejected", "rejected")]
    + [("rejected", "tie"), ("tie", "chosen"), ("tie", "tie")]
)


@dataclass
class Seeded:
    annotators: list[User]
    examples: list[Example]
    pairs: list[PreferencePair]


def seed(db: Session, project: Project) -> Seeded:
    users = [make_member(db, project, f"{name}@example.com") for name in ("a", "b", "c")]
    examples = [make_example(db, project, status=ItemStatus.submitted) for _ in RATINGS]
    for item, row in zip(examples, RATINGS, strict=True):
        for user, rating in zip(users, row, strict=True):
            if rating is not None:
                returned = item is examples[7] and user is users[0]
                state = LabelState.returned if returned else LabelState.submitted
                label_item(db, item, user, rating=rating, state=state)
    label_item(db, examples[6], users[1], state=LabelState.draft, rating=5)
    label_item(db, examples[4], users[2], state=LabelState.skipped, rating=1)
    pairs = [make_pair(db, project, status=ItemStatus.submitted) for _ in PREFERENCES]
    for item, (a, b) in zip(pairs, PREFERENCES, strict=True):
        label_item(db, item, users[0], preference=a)
        label_item(db, item, users[1], preference=b)
    label_item(db, pairs[0], users[2], preference="chosen")
    label_item(db, pairs[1], users[2], preference="rejected")
    db.commit()
    return Seeded(users, examples, pairs)


def reference_alpha() -> float:
    data = [[NAN if row[i] is None else row[i] for row in RATINGS] for i in range(3)]
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))


def test_alpha_and_kappa_match_the_references(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    seed(db, project)
    data = client.get(API, headers=bearer(client, db, engineer)).json()
    ratings = data["example_ratings"]
    assert ratings["value"] == pytest.approx(reference_alpha(), abs=1e-9)
    assert ratings["level"] == "ordinal"
    # items with two or more ratings: all but examples 5 and 7; all three annotators took part
    assert (ratings["items"], ratings["annotators"], ratings["values"]) == (6, 3, 14)
    assert data["pair_ratings"]["value"] is None
    assert "two or more" in data["pair_ratings"]["reason"]

    by_pair = {(p["first_email"], p["second_email"]): p for p in data["rater_pairs"]}
    ab = by_pair[("a@example.com", "b@example.com")]
    assert ab["items"] == 10
    assert ab["agreement"] == pytest.approx(0.7)
    assert ab["kappa"] == pytest.approx(0.32 / 0.62)
    ac = by_pair[("a@example.com", "c@example.com")]
    assert (ac["items"], ac["agreement"]) == (2, 0.5)
    bc = by_pair[("b@example.com", "c@example.com")]
    assert (bc["items"], bc["agreement"], bc["kappa"]) == (2, 0.5, 0.0)  # no better than chance
    preferences = data["pair_preferences"]
    assert preferences["level"] == "nominal" and preferences["items"] == 10

    login(client, engineer.email)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.text
    assert f"{reference_alpha():.3f}" in html
    row = (
        r'<td>a@example.com</td><td>b@example.com</td>\s*<td class="num">10</td>'
        r'\s*<td class="num">70.0%</td>\s*<td class="num">0.516</td>'
    )
    assert re.search(row, html)
    assert "no item has ratings from two or more annotators" in html  # pair ratings


def test_disagreements_link_to_the_review_view(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    seeded = seed(db, project)
    ex, pairs = seeded.examples, seeded.pairs
    data = client.get(API, headers=bearer(client, db, engineer)).json()
    listed = [(d["kind"], d["item_id"]) for d in data["disagreements"]]
    # widest rating spread first, then the pairs whose preferences differ, oldest first
    differing = [pairs[i].id for i in (1, 4, 7, 8)]
    assert listed == [("examples", ex[3].id), ("examples", ex[1].id)] + [
        ("pairs", i) for i in differing
    ]
    assert data["disagreements_total"] == 6
    first = data["disagreements"][0]
    assert first["rating_spread"] == 3 and first["preferences_differ"] is False
    assert first["status"] == "submitted"
    assert {(j["email"], j["rating"]) for j in first["judgements"]} == {
        ("a@example.com", 2),
        ("c@example.com", 5),
    }

    login(client, engineer.email)
    html = client.get(PAGE).text
    for kind, item_id in listed:
        assert f'href="/projects/demo/review/{kind}/{item_id}"' in html
    for quiet in (ex[0], ex[2], ex[5], ex[6]):
        assert f'href="/projects/demo/review/examples/{quiet.id}"' not in html
    assert f'href="/projects/demo/review/pairs/{pairs[0].id}"' not in html
    assert "ratings 3 apart" in html and "preferences differ" in html
    assert 'c@example.com: <span class="preference">rejected is better</span>' in html


def test_nothing_to_measure_yet(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    ann = make_member(db, project, "a@example.com")
    label_item(db, make_example(db, project), ann, rating=4)
    db.commit()
    login(client, engineer.email)
    html = client.get(PAGE).text
    assert "Nothing to adjudicate." in html
    assert "No pair has preferences from two annotators yet." in html
    data = client.get(API).json()
    assert data["example_ratings"]["value"] is None
    assert data["rater_pairs"] == [] and data["disagreements_total"] == 0


def test_annotators_read_it_and_user_text_is_escaped(
    client: TestClient, db: Session, annotator: User, project: Project
) -> None:
    project.name = XSS
    odd = raw_user(db, f"{XSS}@example.com")
    other = raw_user(db, "other@example.com")
    for user in (odd, other, annotator):
        add_member(db, project, user, Role.annotator)
    item = make_pair(db, project)
    label_item(db, item, odd, preference="chosen", rating=1)
    label_item(db, item, other, preference="tie", rating=5)
    db.commit()
    login(client, annotator.email)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert XSS not in page.text
    assert f"<td>{ESCAPED}@example.com</td>" in page.text  # rater pairs
    assert f'{ESCAPED}@example.com: <span class="rating-value">rated 1</span>' in page.text
    assert f"<title>Agreement · {ESCAPED} · Trellis</title>" in page.text
