"""The queue service: who gets which item, leases, skips, overlap and completion."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.labeling import queue, service, slots
from app.labeling.schemas import DraftIn, SubmitIn
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    Label,
    LabelSlot,
    LabelState,
    Project,
    Review,
    ReviewDecision,
    Revision,
    Role,
    User,
)
from app.models.base import utcnow
from tests.factories import add_member, make_examples, make_user

LEASE = 60
EX = ItemKind.example


@pytest.fixture
def annotators(db: Session, project: Project) -> list[User]:
    people = [make_user(db, f"a{i}@example.com", Role.annotator) for i in range(3)]
    for person in people:
        add_member(db, project, person, Role.annotator)
    return people


def _next(db: Session, project: Project, user: User, at: datetime | None = None) -> int | None:
    found = queue.next_item(db, project, user, EX, at or utcnow(), lease_s=LEASE)
    db.commit()
    return found.item.id if found else None


def _submit(db: Session, project: Project, user: User, item_id: int, rating: int | None = 3,
            tags: list[str] | None = None) -> None:  # fmt: skip
    item = db.get(Example, item_id)
    assert item is not None
    data = SubmitIn(version=item.version, rating=rating, tags=tags or [])
    service.submit(db, project, user, Role.annotator, EX, item_id, data, utcnow(), lease_s=LEASE)
    db.commit()


def test_two_annotators_never_get_the_same_item(
    db: Session, project: Project, annotators: list[User]
) -> None:
    items = make_examples(db, project, 3)
    a, b, c = annotators
    first, second, third = _next(db, project, a), _next(db, project, b), _next(db, project, c)
    assert [first, second, third] == [i.id for i in items]  # oldest first, one each
    assert _next(db, project, a) == first  # still leased to a: the same item again
    assert _next(db, project, make_user(db, "late@example.com", Role.annotator)) is None
    leased = db.scalars(select(LabelSlot.user_id).where(LabelSlot.user_id.is_not(None))).all()
    assert sorted(leased) == sorted(u.id for u in annotators)


def test_overlap_gives_each_item_to_distinct_annotators(
    db: Session, project: Project, annotators: list[User]
) -> None:
    project.min_submissions = 2
    db.commit()
    one, two = make_examples(db, project, 2)
    a, b, c = annotators
    assert _next(db, project, a) == one.id
    assert _next(db, project, b) == one.id  # the second slot of the same item
    assert _next(db, project, c) == two.id  # both of item one's slots are taken
    _submit(db, project, a, one.id)
    assert _next(db, project, a) == two.id  # never item one again for a
    _submit(db, project, a, two.id)
    assert _next(db, project, a) is None
    assert db.get(Example, one.id).status is ItemStatus.draft  # type: ignore[union-attr]
    _submit(db, project, b, one.id)
    assert db.get(Example, one.id).status is ItemStatus.submitted  # type: ignore[union-attr]
    per_item = db.execute(
        select(Label.item_id, func.count(func.distinct(Label.user_id)))
        .where(Label.state == LabelState.submitted)
        .group_by(Label.item_id)
    ).all()
    assert dict(per_item) == {one.id: 2, two.id: 1}


def test_raising_min_submissions_adds_slots(
    db: Session, project: Project, annotators: list[User]
) -> None:
    (item,) = make_examples(db, project, 1)
    a, b, _ = annotators
    assert _next(db, project, a) == item.id
    assert _next(db, project, b) is None
    project.min_submissions = 3
    db.commit()
    assert _next(db, project, b) == item.id
    slots = db.scalar(
        select(func.count()).select_from(LabelSlot).where(LabelSlot.item_id == item.id)
    )
    assert slots == 3


def test_an_expired_lease_frees_the_item(
    db: Session, project: Project, annotators: list[User]
) -> None:
    (item,) = make_examples(db, project, 1)
    a, b, _ = annotators
    now = utcnow()
    assert _next(db, project, a, now) == item.id
    assert _next(db, project, b, now + timedelta(seconds=LEASE - 1)) is None
    assert _next(db, project, b, now + timedelta(seconds=LEASE + 1)) == item.id
    slot = db.scalar(select(LabelSlot).where(LabelSlot.item_id == item.id))
    assert slot is not None and slot.user_id == b.id


def test_a_skipped_item_goes_to_the_back_and_comes_back(
    db: Session, project: Project, annotators: list[User]
) -> None:
    first, second, third = make_examples(db, project, 3)
    a, b, _ = annotators
    assert _next(db, project, a) == first.id
    queue.skip(db, project, EX, first.id, a, utcnow())
    db.commit()
    label = queue.label_of(db, EX, first.id, a)
    assert label is not None and label.state is LabelState.skipped
    assert _next(db, project, b) == second.id  # the skipped one is at the back for everyone
    assert _next(db, project, a) == third.id
    _submit(db, project, a, third.id)
    assert _next(db, project, a) == first.id  # after everything else, it comes back
    label = queue.label_of(db, EX, first.id, a)
    assert label is not None and label.state is LabelState.draft


def test_submitting_every_slot_submits_the_item(
    db: Session, project: Project, annotators: list[User]
) -> None:
    project.min_submissions = 3
    project.label_tags = ["factual", "verbose", "unsafe"]
    db.commit()
    (item,) = make_examples(db, project, 1)
    for person, rating, tags in zip(
        annotators, (2, 5, 4), (["factual"], ["verbose"], ["factual", "unsafe"]), strict=True
    ):
        assert _next(db, project, person) == item.id
        _submit(db, project, person, item.id, rating, tags)
    db.refresh(item)
    assert item.status is ItemStatus.submitted
    assert item.rating == 4  # median of 2, 4, 5
    assert item.tags == ["factual", "verbose", "unsafe"]
    actions = db.scalars(select(Revision.action).where(Revision.item_id == item.id)).all()
    assert actions == ["submit"]
    labels = db.scalars(select(Label).where(Label.item_id == item.id)).all()
    assert {label.user_id for label in labels} == {u.id for u in annotators}
    assert all(label.seconds is not None and label.seconds >= 0 for label in labels)


def test_median_rounds_half_up_and_pairs_need_a_preference() -> None:
    assert service.median_half_up([2, 3]) == 3
    assert service.median_half_up([1, 2, 3, 5]) == 3
    assert service.median_half_up([4]) == 4
    assert service.median_half_up([]) is None
    assert service.pair_order(1, 2) == service.pair_order(1, 2)
    orders = {service.pair_order(user, 7) for user in range(40)}
    assert orders == {("chosen", "rejected"), ("rejected", "chosen")}


def test_prompts_kept_allows_assistant_edits_and_removals_only() -> None:
    before = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    assert service.prompts_kept(before, [*before[:2], {"role": "assistant", "content": "b"}])
    assert service.prompts_kept(before, before[1:])  # a removed system turn
    assert service.prompts_kept(before, [*before, {"role": "assistant", "content": "more"}])
    assert not service.prompts_kept(before, [before[0], {"role": "user", "content": "U"}])
    assert not service.prompts_kept(before, [*before, {"role": "user", "content": "new"}])
    assert not service.prompts_kept(before, [before[1], before[0], before[2]])  # reordered


def test_discard_rejects_the_item_and_keeps_the_note(
    db: Session, project: Project, annotators: list[User]
) -> None:
    (item,) = make_examples(db, project, 1)
    a = annotators[0]
    assert _next(db, project, a) == item.id
    service.discard(db, project, a, EX, item.id, "answer is off-topic", utcnow(), lease_s=LEASE)
    db.commit()
    db.refresh(item)
    assert item.status is ItemStatus.rejected
    label = queue.label_of(db, EX, item.id, a)
    assert label is not None and label.state is LabelState.discarded
    assert label.note == "answer is off-topic"
    assert db.scalars(select(Revision.action).where(Revision.item_id == item.id)).all() == [
        "discard"
    ]
    with pytest.raises(Conflict):
        _submit(db, project, a, item.id)


def test_returned_labels_come_first_with_the_comment(
    db: Session, project: Project, annotators: list[User], engineer: User
) -> None:
    first, second = make_examples(db, project, 2)
    a = annotators[0]
    assert _next(db, project, a) == first.id
    _submit(db, project, a, first.id)
    db.refresh(first)
    assert first.status is ItemStatus.submitted
    # A reviewer sends it back (what the review service does).
    first.status = ItemStatus.needs_revision
    label = queue.label_of(db, EX, first.id, a)
    assert label is not None
    label.state = LabelState.returned
    for comment in ("older comment", "Please fix the arithmetic."):
        db.add(Review(project_id=project.id, item_kind=EX.value, item_id=first.id,
                      user_id=engineer.id, decision=ReviewDecision.needs_revision,
                      comment=comment, content_hash=first.content_hash,
                      item_version=first.version))  # fmt: skip
    db.commit()
    found = queue.next_item(db, project, a, EX, utcnow(), lease_s=LEASE)
    assert found is not None and found.item.id == first.id
    assert found.returned_comment == "Please fix the arithmetic."
    assert found.lease_expires_at is None
    db.commit()
    with pytest.raises(Conflict):
        queue.skip(db, project, EX, first.id, a, utcnow())
    _submit(db, project, a, first.id, rating=5)
    db.refresh(first)
    assert first.status is ItemStatus.submitted
    assert _next(db, project, a) == second.id


def test_a_user_never_holds_two_slots_of_one_item(
    db: Session, project: Project, annotators: list[User]
) -> None:
    project.min_submissions = 2
    db.commit()
    (item,) = make_examples(db, project, 1)
    a = annotators[0]
    now = utcnow()
    assert _next(db, project, a, now) == item.id
    # even after a's lease runs out, a takes back its own slot, not the second one
    assert _next(db, project, a, now + timedelta(seconds=LEASE + 5)) == item.id
    held = db.scalars(select(LabelSlot.slot).where(LabelSlot.user_id == a.id)).all()
    assert len(held) == 1


def test_items_out_of_the_queue_are_not_handed_out(
    db: Session, project: Project, annotators: list[User]
) -> None:
    make_examples(db, project, 2, status=ItemStatus.submitted)
    (pending,) = make_examples(db, project, 1, prefix="Pending")
    assert _next(db, project, annotators[0]) == pending.id
    assert _next(db, project, annotators[1]) is None


def test_draft_save_keeps_work_and_renews_the_lease(
    db: Session, project: Project, annotators: list[User]
) -> None:
    (item,) = make_examples(db, project, 1)
    a, b, _ = annotators
    start = utcnow()
    assert _next(db, project, a, start) == item.id
    later = start + timedelta(seconds=LEASE - 5)
    draft = {"edited": True, "turns": [{"src": 0, "role": "user", "content": "Question 0?"}]}
    label = service.save_draft(db, project, a, EX, item.id,
                               DraftIn(version=item.version, draft=draft, rating=2, note="hm"),
                               later, lease_s=LEASE)  # fmt: skip
    db.commit()
    assert label.state is LabelState.draft and label.draft == draft and label.rating == 2
    # the lease now runs from the save, so b still can't take it after the first lease's end
    assert _next(db, project, b, start + timedelta(seconds=LEASE + 5)) is None


def test_throttled_passes_add_new_items_and_full_passes_catch_the_rest(
    db: Session, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slot_count() -> int:
        return int(db.scalar(select(func.count()).select_from(LabelSlot)) or 0)

    make_examples(db, project, 2, prefix="First")
    late = make_examples(db, project, 1, status=ItemStatus.approved, prefix="Late")[0]
    assert slots.sync_slots(db, project, ItemKind.example, utcnow(), force=True) == 2
    # An item that joins the queue later with an id below the last pass's newest (sent back
    # to pending, or committed out of id order), and a new item above it.
    late.status = ItemStatus.draft
    newer = make_examples(db, project, 1, prefix="New")[0]
    db.commit()
    assert late.id < newer.id
    monkeypatch.setattr(slots, "SYNC_INTERVAL_S", 0.0)
    # The next throttled pass adds only the new item...
    assert slots.sync_slots(db, project, ItemKind.example, utcnow()) == 1
    assert slot_count() == 3
    # ...a full pass also finds the one that joined out of order.
    monkeypatch.setattr(slots, "FULL_SYNC_INTERVAL_S", 0.0)
    assert slots.sync_slots(db, project, ItemKind.example, utcnow()) == 1
    assert slot_count() == 4
