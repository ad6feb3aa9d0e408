"""Many annotators claiming at the same moment, each in their own connection and transaction
(PostgreSQL only: SQLite serialises writers, so there is no race to test there)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.labeling import queue, service
from app.labeling.schemas import SubmitIn
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    Label,
    LabelSlot,
    LabelState,
    Project,
    Role,
    User,
)
from app.models.base import utcnow
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from tests.factories import make_examples

THREADS = 12
ITEMS = 30
OVERLAP = 2


@pytest.fixture
def committed(engine: Engine) -> Iterator[tuple[sessionmaker[Session], int, list[int]]]:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent claims are a PostgreSQL matter (SQLite serialises writers)")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    tag = uuid.uuid4().hex[:8]
    with factory() as db:
        owner = users.create_user(db, email=f"owner-{tag}@example.com", password="x" * 12,
                                  role=Role.engineer)  # fmt: skip
        project = projects.create(db, owner, ProjectCreate(slug=f"race-{tag}", name="Race"))
        project.min_submissions = OVERLAP
        people = [
            users.create_user(
                db, email=f"a{i}-{tag}@example.com", password="x" * 12, role=Role.annotator
            )
            for i in range(THREADS)
        ]
        db.commit()
        make_examples(db, project, ITEMS)
        ids = [owner.id, *(p.id for p in people)]
        project_id = project.id
    try:
        yield factory, project_id, ids[1:]
    finally:
        with factory() as db:
            db.execute(delete(Project).where(Project.id == project_id))
            db.execute(delete(User).where(User.id.in_(ids)))
            db.commit()


def test_simultaneous_claims_never_share_a_slot(
    committed: tuple[sessionmaker[Session], int, list[int]],
) -> None:
    factory, project_id, user_ids = committed
    barrier = threading.Barrier(len(user_ids))
    handed: list[tuple[int, int]] = []  # (user, item) per "next"
    errors: list[BaseException] = []
    lock = threading.Lock()

    def annotate(user_id: int) -> None:
        try:
            with factory() as db:
                project = db.get(Project, project_id)
                user = db.get(User, user_id)
                assert project is not None and user is not None
                barrier.wait()
                while True:
                    found = queue.next_item(db, project, user, ItemKind.example, utcnow(),
                                            lease_s=600)  # fmt: skip
                    db.commit()
                    if found is None:
                        return
                    with lock:
                        handed.append((user_id, found.item.id))
                    data = SubmitIn(version=found.item.version, rating=user_id % 5 + 1)
                    service.submit(db, project, user, Role.annotator, ItemKind.example,
                                   found.item.id, data, utcnow(), lease_s=600)  # fmt: skip
                    db.commit()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=annotate, args=(uid,)) for uid in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(handed) == len(set(handed)), "an item was handed twice to the same annotator"
    per_item = Counter(item for _, item in handed)
    assert set(per_item.values()) == {OVERLAP} and len(per_item) == ITEMS
    with factory() as db:
        labels = db.execute(
            select(Label.item_id, Label.user_id).where(
                Label.project_id == project_id, Label.state == LabelState.submitted
            )
        ).all()
        assert len(labels) == ITEMS * OVERLAP == len(set(labels))
        slots = db.execute(
            select(LabelSlot.item_id, LabelSlot.user_id, LabelSlot.done).where(
                LabelSlot.project_id == project_id
            )
        ).all()
        assert len(slots) == ITEMS * OVERLAP and all(done for _, _, done in slots)
        assert len({(item, user) for item, user, _ in slots}) == len(slots)
        statuses = db.scalars(select(Example.status).where(Example.project_id == project_id)).all()
        assert statuses == [ItemStatus.submitted] * ITEMS


def test_one_round_of_simultaneous_next_calls_hands_out_distinct_slots(
    committed: tuple[sessionmaker[Session], int, list[int]],
) -> None:
    factory, project_id, user_ids = committed
    barrier = threading.Barrier(len(user_ids))
    slots: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def claim(user_id: int) -> None:
        try:
            with factory() as db:
                project, user = db.get(Project, project_id), db.get(User, user_id)
                assert project is not None and user is not None
                barrier.wait()
                found = queue.next_item(db, project, user, ItemKind.example, utcnow(),
                                        lease_s=600)  # fmt: skip
                assert found is not None
                slot = db.scalar(select(LabelSlot).where(
                    LabelSlot.item_id == found.item.id, LabelSlot.user_id == user_id))  # fmt: skip
                assert slot is not None
                db.commit()
                slots.append((slot.id, user_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(uid,)) for uid in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(slots) == len(user_ids)
    assert len({slot for slot, _ in slots}) == len(user_ids)  # no slot given twice
