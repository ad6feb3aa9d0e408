"""Issue 18's labeling and review rules at the service level: no SFT example is submitted or
approved without its answer, undo of the last submit while its lease would hold, a send-back
comment on an item nobody labeled reaches whoever picks it up, and a sent-back pair is
resubmitted after the reviewer edited it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid
from app.labeling import queue, service, undo
from app.labeling.schemas import SubmitIn
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    LabelSlot,
    LabelState,
    Preference,
    Project,
    ReviewDecision,
    Role,
    User,
)
from app.models.base import utcnow
from app.pairs import service as pairs
from app.pairs.schemas import PairUpdate
from app.review import bulk as review_bulk
from app.review import service as review
from app.review.schemas import QueueFilter
from tests.factories import add_member, make_example, make_member, make_pair

LEASE = 900
QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture
def member(db: Session, project: Project, annotator: User) -> User:
    add_member(db, project, annotator, Role.annotator)
    return annotator


@pytest.fixture
def reviewer(db: Session, project: Project) -> User:
    return make_member(db, project, "rev@example.com", Role.reviewer)


def _unanswered(db: Session, project: Project, status: ItemStatus = ItemStatus.draft) -> Example:
    example = make_example(db, project, list(QUESTION), status=status)
    example.needs_response = True
    db.flush()
    return example


def _submit(db: Session, project: Project, user: User, item_id: int, **fields: object) -> None:
    item = db.get(Example, item_id)
    assert item is not None
    data = SubmitIn.model_validate({"version": item.version, "rating": 4, **fields})
    service.submit(db, project, user, Role.annotator, ItemKind.example, item_id, data, utcnow(),
                   lease_s=LEASE)  # fmt: skip


def test_an_example_without_its_answer_cannot_be_submitted(
    db: Session, project: Project, member: User
) -> None:
    example = _unanswered(db, project)
    assert queue.next_item(db, project, member, ItemKind.example, utcnow(), lease_s=LEASE)
    with pytest.raises(Invalid, match="needs a response"):
        _submit(db, project, member, example.id)
    blank = [*QUESTION, {"role": "assistant", "content": "  \n "}]
    with pytest.raises(Invalid, match="needs a response"):
        _submit(db, project, member, example.id, messages=blank)
    _submit(
        db, project, member, example.id, messages=[*QUESTION, {"role": "assistant", "content": "4"}]
    )
    db.refresh(example)
    assert example.status is ItemStatus.submitted and not example.needs_response
    assert example.messages[-1] == {"role": "assistant", "content": "4"}


def test_an_example_without_its_answer_cannot_be_approved_alone_or_in_bulk(
    db: Session, project: Project, reviewer: User
) -> None:
    bare = _unanswered(db, project, ItemStatus.submitted)
    fine = make_example(db, project, status=ItemStatus.submitted)
    with pytest.raises(Invalid, match=f"example {bare.id} needs a response"):
        review.decide(db, project, reviewer, ItemKind.example, bare.id,
                      ReviewDecision.approve, "", bare.version)  # fmt: skip
    # rejecting it is fine
    result = review_bulk.bulk(
        db, project, reviewer, "approve", QueueFilter(kind="example"), expected_count=2
    )
    assert result.applied == 1
    assert result.skipped == [
        (ItemKind.example, bare.id, "it needs a response (no final assistant turn)")
    ]
    assert fine.status is ItemStatus.approved and bare.status is ItemStatus.submitted


def test_undo_reopens_the_last_submit_while_the_lease_would_hold(
    db: Session, project: Project, member: User, reviewer: User
) -> None:
    first = make_example(db, project)
    second = make_example(db, project)
    now = utcnow()
    got = queue.next_item(db, project, member, ItemKind.example, now, lease_s=LEASE)
    assert got is not None and got.item.id == first.id
    _submit(db, project, member, first.id)
    assert first.status is ItemStatus.submitted
    label = queue.label_of(db, ItemKind.example, first.id, member)
    assert undo.can_undo(label, utcnow(), LEASE)
    assert not undo.can_undo(label, utcnow() + timedelta(seconds=LEASE + 1), LEASE)
    with pytest.raises(Conflict, match="too late"):
        undo.undo(db, project, member, ItemKind.example, first.id,
                  utcnow() + timedelta(seconds=LEASE + 1), lease_s=LEASE)  # fmt: skip

    undone = undo.undo(db, project, member, ItemKind.example, first.id, utcnow(), lease_s=LEASE)
    assert undone.state is LabelState.draft and undone.rating == 4
    assert first.status is ItemStatus.draft
    slot = db.scalar(select(LabelSlot).where(LabelSlot.item_id == first.id))
    assert slot is not None and not slot.done and slot.user_id == member.id
    with pytest.raises(Conflict, match="nothing to undo"):
        undo.undo(db, project, member, ItemKind.example, first.id, utcnow(), lease_s=LEASE)
    # submitted again, then a reviewer decides: too late to undo
    _submit(db, project, member, first.id)
    review.decide(db, project, reviewer, ItemKind.example, first.id, ReviewDecision.reject, "",
                  first.version)  # fmt: skip
    with pytest.raises(Conflict, match="decided"):
        undo.undo(db, project, member, ItemKind.example, first.id, utcnow(), lease_s=LEASE)
    assert second.status is ItemStatus.draft


def test_undo_of_a_discard_puts_the_item_back_in_the_queue(
    db: Session, project: Project, member: User
) -> None:
    item = make_example(db, project)
    assert queue.next_item(db, project, member, ItemKind.example, utcnow(), lease_s=LEASE)
    service.discard(db, project, member, ItemKind.example, item.id, "junk", utcnow(), lease_s=LEASE)
    assert item.status is ItemStatus.rejected
    undo.undo(db, project, member, ItemKind.example, item.id, utcnow(), lease_s=LEASE)
    assert item.status is ItemStatus.draft
    again = queue.next_item(db, project, member, ItemKind.example, utcnow(), lease_s=LEASE)
    assert again is not None and again.item.id == item.id


def test_a_send_back_comment_on_an_unlabeled_item_reaches_who_picks_it_up(
    db: Session, project: Project, member: User, reviewer: User
) -> None:
    item = make_example(db, project, status=ItemStatus.submitted)
    review.decide(db, project, reviewer, ItemKind.example, item.id,
                  ReviewDecision.needs_revision, "Cite the source.", item.version)  # fmt: skip
    got = queue.next_item(db, project, member, ItemKind.example, utcnow(), lease_s=LEASE)
    assert got is not None and got.item.id == item.id
    assert got.returned_comment == "Cite the source."


def test_a_sent_back_pair_is_resubmitted_after_the_reviewer_edited_it(
    db: Session, project: Project, member: User, reviewer: User
) -> None:
    pair = make_pair(db, project)
    assert queue.next_item(db, project, member, ItemKind.pair, utcnow(), lease_s=LEASE)
    data = SubmitIn(version=pair.version, rating=3, preference=Preference.chosen)
    service.submit(db, project, member, Role.annotator, ItemKind.pair, pair.id, data, utcnow(),
                   lease_s=LEASE)  # fmt: skip
    assert pair.status is ItemStatus.submitted
    better = [{"role": "assistant", "content": "Better."}]
    edited = pairs.update(
        db, project, pair.id, reviewer, PairUpdate(version=pair.version, chosen=better)
    )
    review.decide(db, project, reviewer, ItemKind.pair, pair.id, ReviewDecision.needs_revision,
                  "Look again.", edited.version)  # fmt: skip
    got = queue.next_item(db, project, member, ItemKind.pair, utcnow(), lease_s=LEASE)
    assert got is not None and got.item.id == pair.id and got.returned_comment == "Look again."
    again = SubmitIn(version=pair.version, rating=4, preference=Preference.rejected)
    label, _ = service.submit(db, project, member, Role.annotator, ItemKind.pair, pair.id, again,
                              utcnow(), lease_s=LEASE)  # fmt: skip
    assert label.state is LabelState.submitted and pair.status is ItemStatus.submitted
