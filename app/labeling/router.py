"""Labeling REST API: the queue ("next item" under a lease), autosaved drafts, submit, skip,
discard, and an item's labels."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.auth.access import Access
from app.auth.policy import ProjectAnnotate
from app.examples.schemas import ExampleOut
from app.items.kinds import Item
from app.labeling import queue, service
from app.labeling.queue import Assignment
from app.labeling.schemas import (
    KINDS,
    DiscardIn,
    DraftIn,
    KindSlug,
    LabelOut,
    NextOut,
    SubmitIn,
    SubmitOut,
)
from app.models import Example, ItemKind
from app.models.base import utcnow
from app.pairs.schemas import PairOut
from app.web.deps import SessionDep
from app.web.pages import settings_of

router = APIRouter(prefix="/api/projects/{slug}", tags=["labeling"])


def item_out(item: Item) -> ExampleOut | PairOut:
    if isinstance(item, Example):
        return ExampleOut.model_validate(item)
    return PairOut.model_validate(item)


def next_out(found: Assignment, access: Access) -> NextOut:
    order = None
    if found.kind is ItemKind.pair:
        a, b = service.pair_order(access.required_user.id, found.item.id)
        order = [a, b]
    return NextOut(
        item=item_out(found.item),
        label=LabelOut.model_validate(found.label),
        lease_expires_at=found.lease_expires_at,
        returned_comment=found.returned_comment,
        order=order,
    )


@router.post(
    "/queue/{kind}/next",
    response_model=NextOut,
    responses={204: {"description": "nothing is left in the queue for you"}},
)
def next_item(
    slug: str,
    kind: KindSlug,
    request: Request,
    db: SessionDep,
    access: ProjectAnnotate,
) -> NextOut | Response:
    """Your next item, reserved for you for `TRELLIS_LABEL_LEASE_S` seconds."""
    found = queue.next_item(
        db,
        access.required_project,
        access.required_user,
        KINDS[kind],
        utcnow(),
        lease_s=settings_of(request).label_lease_s,
    )
    if found is None:
        return Response(status_code=204)
    return next_out(found, access)


@router.put("/labels/{kind}/{item_id}/draft")
def save_draft(
    slug: str,
    kind: KindSlug,
    item_id: int,
    data: DraftIn,
    request: Request,
    db: SessionDep,
    access: ProjectAnnotate,
) -> LabelOut:
    """Autosave unsubmitted work; renews the lease."""
    label = service.save_draft(
        db,
        access.required_project,
        access.required_user,
        KINDS[kind],
        item_id,
        data,
        utcnow(),
        lease_s=settings_of(request).label_lease_s,
    )
    return LabelOut.model_validate(label)


@router.post("/labels/{kind}/{item_id}/submit")
def submit(
    slug: str,
    kind: KindSlug,
    item_id: int,
    data: SubmitIn,
    request: Request,
    db: SessionDep,
    access: ProjectAnnotate,
) -> SubmitOut:
    """Submit your label. Edited `messages` against an older `version` answer 409 with
    `current`, `current_version` and `mine` in the details."""
    label, item = service.submit(
        db,
        access.required_project,
        access.required_user,
        access.project_role,
        KINDS[kind],
        item_id,
        data,
        utcnow(),
        lease_s=settings_of(request).label_lease_s,
    )
    return SubmitOut(label=LabelOut.model_validate(label), item=item_out(item))


@router.post("/labels/{kind}/{item_id}/skip")
def skip(
    slug: str,
    kind: KindSlug,
    item_id: int,
    db: SessionDep,
    access: ProjectAnnotate,
) -> LabelOut:
    """Put the item back at the end of the queue."""
    label = queue.skip(
        db, access.required_project, KINDS[kind], item_id, access.required_user, utcnow()
    )
    return LabelOut.model_validate(label)


@router.post("/labels/{kind}/{item_id}/discard")
def discard(
    slug: str,
    kind: KindSlug,
    item_id: int,
    data: DiscardIn,
    request: Request,
    db: SessionDep,
    access: ProjectAnnotate,
) -> LabelOut:
    """The item is unusable: it is rejected, your note kept on your label."""
    label = service.discard(
        db,
        access.required_project,
        access.required_user,
        KINDS[kind],
        item_id,
        data.note,
        utcnow(),
        lease_s=settings_of(request).label_lease_s,
    )
    return LabelOut.model_validate(label)


@router.get("/labels")
def list_labels(
    slug: str,
    db: SessionDep,
    access: ProjectAnnotate,
    kind: Annotated[KindSlug, Query()],
    item_id: Annotated[int, Query()],
) -> list[LabelOut]:
    """An item's labels: everyone's for reviewers and above, your own for annotators."""
    labels = service.labels_of_item(
        db,
        access.required_project,
        access.required_user,
        access.project_role,
        KINDS[kind],
        item_id,
    )
    return [LabelOut.model_validate(label) for label in labels]
