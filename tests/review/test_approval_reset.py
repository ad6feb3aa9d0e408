"""A change of content resets approval everywhere it is shown (issue 18): after an edit or a
swap the item is submitted again, its badge and its approval count agree."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.models import ItemKind, ItemStatus, Project, ReviewDecision, User
from app.pairs import service as pairs
from app.review import service as review
from tests.factories import conversation, make_example, make_pair


def test_swap_and_edit_take_an_approval_back(
    db: Session, project: Project, reviewer: User, reviewer2: User
) -> None:
    pair = make_pair(db, project, status=ItemStatus.submitted)
    example = make_example(db, project, status=ItemStatus.submitted)
    for kind, item in ((ItemKind.pair, pair), (ItemKind.example, example)):
        review.decide(db, project, reviewer, kind, item.id, ReviewDecision.approve, "",
                      item.version)  # fmt: skip
        assert item.status is ItemStatus.approved and review.approvals(db, kind, item) == 1
    pairs.swap(db, project, pair.id, reviewer2, pair.version)
    assert pair.status is ItemStatus.submitted and review.approvals(db, ItemKind.pair, pair) == 0
    # a rating is not content: the approval stands
    examples.update(
        db, project, example.id, reviewer2, ExampleUpdate(version=example.version, rating=5)
    )
    assert example.status is ItemStatus.approved
    edited = conversation("question?", "a better answer")
    examples.update(db, project, example.id, reviewer2,
                    ExampleUpdate(version=example.version, messages=edited))  # fmt: skip
    assert example.status is ItemStatus.submitted
    assert review.approvals(db, ItemKind.example, example) == 0
    history = examples.revisions(db, project, example.id)
    last = max(history, key=lambda r: r.id)
    assert last.before is not None and last.after is not None
    assert (last.before["status"], last.after["status"]) == ("approved", "submitted")
