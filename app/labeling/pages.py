"""Labeling pages: the start page (queue counts, guidelines, start buttons), the labeling view
of an example or a pair (keyboard driven, drafts autosaved by static/labeling.js), and the
conflict view when a save meets a newer version (both texts side by side, keep mine / take
theirs). The view's form is a plain POST that answers 303 to the next item."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.auth.access import Access
from app.auth.policy import ProjectAnnotate
from app.errors import AppError, Conflict, Forbidden, Invalid
from app.items import repository as items
from app.items.kinds import Item
from app.labeling import forms, queue, service, undo
from app.labeling.schemas import KINDS, KindSlug, SubmitIn
from app.models import ItemKind, ItemStatus, LabelState
from app.models.base import utcnow
from app.web.deps import SessionDep, WritesOnRead
from app.web.pages import redirect_after_post, settings_of, validate_form
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
SLUGS = {kind: slug for slug, kind in KINDS.items()}
NOUNS = {ItemKind.example: "example", ItemKind.pair: "pair"}


async def _form(request: Request) -> FormData:
    return await request.form()


PostedForm = Annotated[FormData, Depends(_form)]


def _start_url(slug: str) -> str:
    return f"/projects/{slug}/label"


def _item_url(slug: str, kind: ItemKind, item_id: int) -> str:
    return f"/projects/{slug}/label/{SLUGS[kind]}/{item_id}"


@router.get("/projects/{slug}/label")
def start(
    _lock: WritesOnRead, request: Request, slug: str, db: SessionDep, access: ProjectAnnotate
) -> Response:
    project, user, now = access.required_project, access.required_user, utcnow()
    empty = request.query_params.get("empty")
    context = {
        "project_tab": "label",
        "queues": [
            (SLUGS[kind], NOUNS[kind], queue.counts(db, project, user, kind, now))
            for kind in (ItemKind.example, ItemKind.pair)
        ],
        "empty": empty if empty in KINDS else None,
        "just_done": request.query_params.get("done") or None,
        "undo_url": _undo_url(request, db, access, KINDS[empty]) if empty in KINDS else None,
    }
    return render(request, "labeling/start.html", context)


def _to_next(
    request: Request, db: Session, access: Access, kind: ItemKind, *, done: str = "",
    prev: int | None = None,
) -> Response:  # fmt: skip
    project = access.required_project
    found = queue.next_item(
        db,
        project,
        access.required_user,
        kind,
        utcnow(),
        lease_s=settings_of(request).label_lease_s,
    )
    query = f"done={done}" if done else ""
    if done and prev is not None:
        query += f"&prev={prev}"
    if found is None:
        suffix = f"&{query}" if query else ""
        return redirect_after_post(
            request, f"{_start_url(project.slug)}?empty={SLUGS[kind]}{suffix}"
        )
    url = _item_url(project.slug, kind, found.item.id)
    return redirect_after_post(request, f"{url}?{query}" if query else url)


@router.post("/projects/{slug}/label/{kind}/next")
def start_next(
    request: Request,
    slug: str,
    kind: KindSlug,
    db: SessionDep,
    access: ProjectAnnotate,
) -> Response:
    return _to_next(request, db, access, KINDS[kind])


def _view(
    request: Request,
    db: Session,
    access: Access,
    kind: ItemKind,
    item: Item,
    state: forms.FormState,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    project, user = access.required_project, access.required_user
    label = queue.label_of(db, kind, item.id, user)
    order = service.pair_order(user.id, item.id) if kind is ItemKind.pair else None
    returned = label is not None and label.state is LabelState.returned
    finished = label is not None and label.state in (LabelState.submitted, LabelState.discarded)
    in_queue = item.status in queue.QUEUE_STATUSES or returned
    progress = None
    if in_queue and not finished:
        counts = queue.counts(db, project, user, kind, utcnow())
        progress = (counts.submitted_today + 1, counts.submitted_today + max(counts.waiting, 1))
    just_done = request.query_params.get("done") or None
    context: dict[str, Any] = {
        "project_tab": "label",
        "kind": kind.value,
        "kind_slug": SLUGS[kind],
        "item": item,
        "label": label,
        "state": state,
        "sides": [(name, getattr(item, side)) for name, side in zip("AB", order, strict=True)]
        if order
        else [],
        "can_edit_prompts": service.may_edit_prompts(project, access.project_role),
        "new_turn_roles": forms.NEW_TURN_ROLES
        if service.may_edit_prompts(project, access.project_role)
        else ("assistant",),
        "returned_comment": queue.returned_comment(db, kind, item.id)
        if returned or (in_queue and not finished and item.status is ItemStatus.needs_revision)
        else None,
        "finished": finished,
        "in_queue": in_queue,
        "error": error,
        "just_done": just_done,
        # open on a session's first item (reached from the start page), one key away after
        "guidelines_open": just_done is None,
        "progress": progress,
        "undo_url": _undo_url(request, db, access, kind),
        "action_url": _item_url(project.slug, kind, item.id),
        "draft_url": f"/api/projects/{project.slug}/labels/{SLUGS[kind]}/{item.id}/draft",
    }
    return render(request, "labeling/item.html", context, status_code=status_code)


def _undo_url(request: Request, db: Session, access: Access, kind: ItemKind) -> str | None:
    """The undo button's target when the page follows a submit or discard that can still be
    undone (`prev` names the item)."""
    prev = request.query_params.get("prev") or ""
    if not prev.isdigit():
        return None
    label = queue.label_of(db, kind, int(prev), access.required_user)
    if not undo.can_undo(label, utcnow(), settings_of(request).label_lease_s):
        return None
    return f"{_item_url(access.required_project.slug, kind, int(prev))}/undo"


@router.post("/projects/{slug}/label/{kind}/{item_id}/undo")
def undo_last(
    request: Request,
    slug: str,
    kind: KindSlug,
    item_id: int,
    db: SessionDep,
    access: ProjectAnnotate,
) -> Response:
    """Take back the last submit or discard while its lease would still hold: the item opens
    again with the label as it was sent."""
    item_kind = KINDS[kind]
    undo.undo(db, access.required_project, access.required_user, item_kind, item_id, utcnow(),
              lease_s=settings_of(request).label_lease_s)  # fmt: skip
    return redirect_after_post(
        request, f"{_item_url(access.required_project.slug, item_kind, item_id)}?undone=1"
    )


@router.get("/projects/{slug}/label/{kind}/{item_id}")
def item_view(
    request: Request,
    slug: str,
    kind: KindSlug,
    item_id: int,
    db: SessionDep,
    access: ProjectAnnotate,
) -> Response:
    item_kind = KINDS[kind]
    item = items.get(db, access.required_project, item_kind, item_id)
    label = queue.label_of(db, item_kind, item.id, access.required_user)
    choice = ""
    if label is not None and item_kind is ItemKind.pair:
        order = service.pair_order(access.required_user.id, item.id)
        choice = service.choice_from_preference(label.preference, order)
    return _view(request, db, access, item_kind, item, forms.from_label(item, label, choice))


def _conflict(
    request: Request,
    access: Access,
    kind: ItemKind,
    item: Item,
    state: forms.FormState,
    exc: Conflict,
) -> Response:
    details: dict[str, Any] = exc.details
    mine = details["mine"]["messages"]
    context = {
        "project_tab": "label",
        "kind_slug": SLUGS[kind],
        "item": item,
        "message": exc.message,
        "mine": mine,
        "mine_json": json.dumps(mine, ensure_ascii=False),
        "theirs": details["current"]["messages"],
        "current_version": details["current_version"],
        "state": state,
        "action_url": _item_url(access.required_project.slug, kind, item.id),
    }
    return render(request, "labeling/conflict.html", context, status_code=409)


@router.post("/projects/{slug}/label/{kind}/{item_id}")
def act(
    request: Request,
    slug: str,
    kind: KindSlug,
    item_id: int,
    form: PostedForm,
    db: SessionDep,
    access: ProjectAnnotate,
) -> Response:
    """The view's buttons: action=submit | skip | discard (then on to the next item), or
    take_theirs (drop the autosaved edits and reload). A refusal re-renders the view with the
    reason and the posted values; a version conflict shows both texts side by side."""
    project, user = access.required_project, access.required_user
    item_kind = KINDS[kind]
    item = items.get(db, project, item_kind, item_id)
    action = form.get("action")
    if action == "take_theirs":
        service.clear_draft_edits(db, project, user, item_kind, item.id)
        return redirect_after_post(request, _item_url(project.slug, item_kind, item.id))
    if action not in ("submit", "skip", "discard"):
        raise Invalid("action must be submit, skip, discard or take_theirs")
    state = forms.from_form(form, item)
    mine = queue.label_of(db, item_kind, item.id, user)
    finished = {"submit": LabelState.submitted, "discard": LabelState.discarded}
    if mine is not None and mine.state is finished.get(str(action)):
        # The same post again (a second Ctrl+Enter, a resent form): it is done already, so go
        # on as the first one did instead of answering "you already submitted this".
        return _to_next(request, db, access, item_kind, done=mine.state.value)
    try:
        return _apply(request, db, access, item_kind, item, state, str(action))
    except Conflict as exc:
        if isinstance(exc.details, dict) and "mine" in exc.details:
            return _conflict(request, access, item_kind, item, state, exc)
        error: AppError = exc
    except (Invalid, Forbidden) as exc:
        error = exc
    return _view(request, db, access, item_kind, item, state, error=error.message,
                 status_code=error.status_code)  # fmt: skip


def _apply(
    request: Request,
    db: Session,
    access: Access,
    kind: ItemKind,
    item: Item,
    state: forms.FormState,
    action: str,
) -> Response:
    project, user, now = access.required_project, access.required_user, utcnow()
    lease_s = settings_of(request).label_lease_s
    if action == "skip":
        queue.skip(db, project, kind, item.id, user, now)
        return _to_next(request, db, access, kind, done="skipped")
    if action == "discard":
        service.discard(db, project, user, kind, item.id, state.note, now, lease_s=lease_s)
        return _to_next(request, db, access, kind, done="discarded", prev=item.id)
    order = service.pair_order(user.id, item.id) if kind is ItemKind.pair else None
    data, errors = validate_form(
        SubmitIn,
        {
            "version": state.version,
            "messages": state.messages(item),
            "rating": state.rating,
            "tags": state.tags,
            "note": state.note,
            "preference": service.preference_from_choice(state.choice, order) if order else None,
        },
    )
    if data is None:
        raise Invalid("; ".join(f"{k}: {v}" for k, v in errors.items()))
    service.submit(db, project, user, access.project_role, kind, item.id, data, now,
                   lease_s=lease_s)  # fmt: skip
    return _to_next(request, db, access, kind, done="submitted", prev=item.id)
