"""The review view of one item: an example with every annotator's label, or a pair with its
prompt on top and chosen beside rejected (labelled), the revision diffs, and the decision,
swap and in-place edit forms (keys A approve, R reject, X swap, N next; static/review.js)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.auth.access import Access
from app.auth.policy import ProjectReview
from app.errors import AppError, Conflict, Invalid
from app.items import repository as items
from app.items.history import Authors, revision_rows
from app.items.kinds import parse_kind
from app.items.repository import LABELED_STATES
from app.models import Example, ItemKind, ItemStatus, LabelState, Preference, ReviewDecision
from app.pairs import service as pairs
from app.pairs.schemas import PairUpdate
from app.review import service
from app.review.schemas import COMMENT_MAX
from app.web.deps import SessionDep
from app.web.pages import query_string, redirect_after_post
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
QUEUE_KEYS = ("kind", "source", "tag", "min_rating", "annotator")
NOTICES = {
    "approve": "Approved.",
    "approve_more": "Your approval is recorded; more reviewers must approve.",
    "reject": "Rejected.",
    "needs_revision": "Sent back to the annotators with your comment.",
    "swap": "Swapped: chosen and rejected exchanged.",
    "edit": "Saved.",
}


def item_text(item: Example | Any) -> list[dict[str, Any]]:
    """The turns a queue row previews: an example's conversation, a pair's prompt."""
    turns: list[dict[str, Any]] = item.messages if isinstance(item, Example) else item.prompt
    return turns


def item_url(slug: str, kind: ItemKind, item_id: int, kept: dict[str, str] | None = None) -> str:
    query = query_string(kept or {})
    return f"/projects/{slug}/review/{kind.value}/{item_id}" + (f"?{query}" if query else "")


def _kept(request: Request) -> dict[str, str]:
    """The queue filters the reviewer came with (kept for N and after a decision)."""
    params = request.query_params
    return {k: params[k].strip() for k in QUEUE_KEYS if params.get(k, "").strip()}


def _preferences(labels: list[Any]) -> dict[str, int]:
    counts = Counter(
        label.preference.value
        for label in labels
        if label.state in LABELED_STATES and label.preference is not None
    )
    return {p.value: counts.get(p.value, 0) for p in Preference}


def _view(
    request: Request,
    db: Session,
    access: Access,
    kind: ItemKind,
    item_id: int,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    conflict: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    project = access.required_project
    user = access.required_user
    item = items.get(db, project, kind, item_id)
    authors = Authors(db)
    labels = service.labels(db, kind, item_id)
    kept = _kept(request)
    done = request.query_params.get("done", "")
    decided = _decided(request.query_params.get("decided", ""))
    context: dict[str, Any] = {
        "kind": kind.value,
        "item": item,
        "labels": [(label, authors(label.user_id)) for label in labels],
        "submitted_labels": sum(1 for label in labels if label.state in LABELED_STATES),
        "preferences": _preferences(labels) if kind is ItemKind.pair else None,
        "reviews": [(r, authors(r.user_id)) for r in service.reviews(db, kind, item_id)],
        "revisions": revision_rows(db, items.revisions_of(db, kind, item_id), authors),
        "approvals": service.approvals(db, kind, item),
        "blocker": service.approval_blocker(db, kind, item, user),
        "decidable": item.status in service.DECIDABLE,
        "notice": NOTICES.get(done),
        # after a decision the view moved on: which item the notice is about, linked
        "decided": (decided[0].value, decided[1], item_url(project.slug, *decided, kept))
        if decided and decided != (kind, item_id)
        else None,
        "error": error,
        "form": form or {"comment": ""},
        "conflict": conflict,
        "kept": kept,
        "kept_query": query_string(kept),
        "self_url": item_url(project.slug, kind, item_id, kept),
        "next_url": f"/projects/{project.slug}/review/next?"
        + query_string(kept, **{"from": f"{kind.value}-{item_id}"}),
        "action_base": f"/projects/{project.slug}/review/{kind.value}/{item_id}",
        "comment_max": COMMENT_MAX,
        "states": LabelState,
    }
    return render(request, "review/item.html", context, status_code=status_code)


@router.get("/projects/{slug}/review/{kind}/{item_id}")
def review_item(
    request: Request, slug: str, kind: str, item_id: int, db: SessionDep, access: ProjectReview
) -> Response:
    return _view(request, db, access, parse_kind(kind), item_id)


def _decided(value: str) -> tuple[ItemKind, int] | None:
    kind_name, _, ident = value.partition("-")
    if kind_name in ("example", "pair") and ident.isdigit():
        return ItemKind(kind_name), int(ident)
    return None


def _after(request: Request, slug: str, kind: ItemKind, item_id: int, done: str) -> Response:
    kept = _kept(request)
    url = item_url(slug, kind, item_id, {**kept, "done": done})
    return redirect_after_post(request, url)


def _advance(request: Request, slug: str, kind: ItemKind, item_id: int, done: str) -> Response:
    """After a decision: on to the next item the reviewer can act on (the default)."""
    here = f"{kind.value}-{item_id}"
    query = query_string(_kept(request), **{"from": here, "done": done, "decided": here})
    return redirect_after_post(request, f"/projects/{slug}/review/next?{query}")


@router.post("/projects/{slug}/review/{kind}/{item_id}/decide")
def decide(
    request: Request,
    slug: str,
    kind: str,
    item_id: int,
    db: SessionDep,
    access: ProjectReview,
    decision: Annotated[str, Form()],
    version: Annotated[int, Form()],
    comment: Annotated[str, Form(max_length=COMMENT_MAX)] = "",
    stay: Annotated[str, Form()] = "",
) -> Response:
    """Record the decision, then go on to the next item (or stay, with `stay`)."""
    item_kind = parse_kind(kind)
    text = comment.replace("\r\n", "\n")
    try:
        chosen = ReviewDecision(decision)
    except ValueError:
        raise Invalid("decision: use approve, reject or needs_revision") from None
    try:
        result = service.decide(
            db,
            access.required_project,
            access.required_user,
            item_kind,
            item_id,
            chosen,
            text,
            version,
        )
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return _view(
            request,
            db,
            access,
            item_kind,
            item_id,
            error=exc.message,
            form={"comment": text},
            status_code=exc.status_code,
        )
    done = chosen.value
    if chosen is ReviewDecision.approve and result.item.status is not ItemStatus.approved:
        done = "approve_more"
    if stay:
        return _after(request, slug, item_kind, item_id, done)
    return _advance(request, slug, item_kind, item_id, done)


@router.post("/projects/{slug}/review/pair/{pair_id}/swap")
def swap(
    request: Request,
    slug: str,
    pair_id: int,
    db: SessionDep,
    access: ProjectReview,
    version: Annotated[int, Form()],
) -> Response:
    try:
        pairs.swap(db, access.required_project, pair_id, access.required_user, version)
    except (Conflict, Invalid) as exc:
        return _view(
            request,
            db,
            access,
            ItemKind.pair,
            pair_id,
            error=exc.message,
            status_code=exc.status_code,
        )
    return _after(request, slug, ItemKind.pair, pair_id, "swap")


@router.post("/projects/{slug}/review/pair/{pair_id}/edit")
def edit_response(
    request: Request,
    slug: str,
    pair_id: int,
    db: SessionDep,
    access: ProjectReview,
    side: Annotated[str, Form()],
    version: Annotated[int, Form()],
    content: Annotated[list[str], Form()],
) -> Response:
    """Edit the chosen or the rejected response in place. A pair saved by someone else since
    the page was loaded answers 409 with both texts side by side (keep mine / take theirs)."""
    project = access.required_project
    if side not in ("chosen", "rejected"):
        raise Invalid("side: use chosen or rejected")
    pair = pairs.get(db, project, pair_id)
    mine = [text.replace("\r\n", "\n") for text in content]
    turns = pair.chosen if side == "chosen" else pair.rejected
    if version == pair.version and len(mine) != len(turns):
        raise Invalid(f"the {side} response has {len(turns)} turn(s); send one text for each")
    if version != pair.version:
        conflict = {
            "side": side,
            "mine": mine,
            "current": [str(t.get("content") or "") for t in turns],
            "current_version": pair.version,
            "version": version,
        }
        message = (
            f"Someone saved this pair while you were editing (you edited version {version}, it "
            f"is now at {pair.version}). Compare the two texts: keep yours or take theirs."
        )
        return _view(
            request,
            db,
            access,
            ItemKind.pair,
            pair_id,
            error=message,
            conflict=conflict,
            status_code=409,
        )
    edited = [{**turn, "content": text} for turn, text in zip(turns, mine, strict=True)]
    try:
        pairs.update(
            db,
            project,
            pair_id,
            access.required_user,
            PairUpdate(version=version, **{side: edited}),
        )
    except (Conflict, Invalid) as exc:
        return _view(
            request,
            db,
            access,
            ItemKind.pair,
            pair_id,
            error=exc.message,
            status_code=exc.status_code,
        )
    return _after(request, slug, ItemKind.pair, pair_id, "edit")
