"""Bulk actions from the Examples and Pairs lists: the rows ticked (or all N rows the list's
filter matches) get a tag, an approval, a rejection, a selection of their own or a discard.
The first post shows the count and asks to confirm; the confirmation carries the count back
(a count that changed in between is refused)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.auth.policy import ProjectReview
from app.errors import Invalid
from app.items.schemas import ListFilter
from app.models import ItemKind
from app.review import list_actions
from app.web.deps import SessionDep
from app.web.pages import query_string
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
KINDS = {"examples": ItemKind.example, "pairs": ItemKind.pair}
FILTER_FIELDS = ("status", "source", "tag", "q", "sort")


def _filter(values: dict[str, str]) -> ListFilter:
    try:
        return ListFilter.model_validate({k: v for k, v in values.items() if v})
    except ValidationError as exc:
        raise Invalid(f"bad list filter: {exc.errors()[0]['msg']}") from None


@router.post("/projects/{slug}/list-actions/{kind}")
def list_action(
    request: Request,
    slug: str,
    kind: str,
    db: SessionDep,
    access: ProjectReview,
    action: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "picked",
    ids: Annotated[list[int] | None, Form()] = None,
    new_tag: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    expected_count: Annotated[str, Form()] = "",
    f_status: Annotated[str, Form()] = "",
    f_source: Annotated[str, Form()] = "",
    f_tag: Annotated[str, Form()] = "",
    f_q: Annotated[str, Form()] = "",
    f_sort: Annotated[str, Form()] = "",
) -> Response:
    if kind not in KINDS:
        raise Invalid("kind: examples or pairs")
    if action not in list_actions.ACTIONS:
        raise Invalid(f"action: one of {', '.join(list_actions.ACTIONS)}")
    item_kind, project = KINDS[kind], access.required_project
    kept = dict(zip(FILTER_FIELDS, (f_status, f_source, f_tag, f_q, f_sort), strict=True))
    every = scope == "all"
    targets = list_actions.target_ids(
        db, project, item_kind, ids or [], _filter(kept) if every else None
    )
    context: dict[str, Any] = {
        "kind": kind,
        "noun": "example" if item_kind is ItemKind.example else "pair",
        "action": action,
        "verb": list_actions.ACTIONS[action],
        "scope": scope,
        "ids": [] if every else targets,
        "count": len(targets),
        "new_tag": new_tag,
        "name": name,
        "kept": kept,
        "list_url": f"/projects/{slug}/{kind}?{query_string(kept)}",
    }
    if not expected_count.isdigit():
        return render(request, "review/list_confirm.html", context)
    result = list_actions.apply(
        db, project, access.required_user, item_kind, action,  # type: ignore[arg-type]
        targets, int(expected_count), tag=new_tag, name=name,
    )  # fmt: skip
    return render(request, "review/list_done.html", {**context, "result": result})
