"""Helpers shared by the HTML page routes (every domain's `pages.py`): reading forms into
Pydantic models with per-field errors, answering a successful post, the session cookie, safe
`next` targets, list filters from the query string and row previews."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from app.config import Settings
from app.errors import Invalid
from app.items.schemas import ListFilter
from app.models import ItemStatus, Source
from app.web.cookies import SESSION_COOKIE
from app.web.templating import is_htmx

# Responses whose body depends on HX-Request must not be cached as the other variant.
VARY_HTMX = {"Vary": "HX-Request"}
PREVIEW_CHARS = 160
M = TypeVar("M", bound=BaseModel)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def field_errors(exc: ValidationError) -> dict[str, str]:
    """The first message for each top-level field, for showing next to the inputs."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "string_pattern_mismatch" and field == "slug":
            message = "use lowercase letters, digits and dashes, starting with a letter or digit"
        errors.setdefault(field, message)
    return errors


def validate_form(model: type[M], values: Mapping[str, Any]) -> tuple[M | None, dict[str, str]]:
    """(model, {}) when `values` are valid, else (None, {field: message})."""
    try:
        return model.model_validate(dict(values)), {}
    except ValidationError as exc:
        return None, field_errors(exc)


def redirect_after_post(request: Request, url: str) -> Response:
    """htmx follows HX-Redirect with a full page load; plain forms get 303 See Other."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None, default: str = "/projects") -> str:
    """Only same-site relative paths: never a scheme, a host, `//host` or a backslash trick."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def cookie_secure(request: Request) -> bool:
    mode = settings_of(request).cookie_secure
    if mode == "always":
        return True
    if mode == "never":
        return False
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=settings_of(request).session_max_age_s,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )


FILTER_KEYS = ("status", "source", "tag", "q", "sort")


def list_filter(request: Request, limit: int) -> tuple[ListFilter, dict[str, str]]:
    """The list filter from the query string (empty fields mean "any") and the filters to keep
    in links (without the cursor)."""
    query = request.query_params
    kept = {k: query[k].strip() for k in FILTER_KEYS if query.get(k, "").strip()}
    values: dict[str, Any] = {**kept, "limit": limit}
    if query.get("after"):
        values["after"] = query["after"]
    try:
        return ListFilter.model_validate(values), kept
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {v}" for k, v in field_errors(exc).items())
        raise Invalid(f"bad list filter ({problems})") from exc


def query_string(params: Mapping[str, str], **extra: str) -> str:
    merged = {**params, **extra}
    return urlencode({k: v for k, v in merged.items() if v})


def list_template(request: Request, folder: str) -> str:
    """A "load more" click appends rows; a filter change swaps the table; else the full page."""
    if is_htmx(request):
        return (
            f"{folder}/_rows.html" if request.query_params.get("after") else f"{folder}/_table.html"
        )
    return f"{folder}/list.html"


def list_context(request: Request, kept: dict[str, str], next_cursor: str | None) -> dict[str, Any]:
    return {
        "filters": kept,
        "statuses": list(ItemStatus),
        "sources": list(Source),
        "sorts": ("newest", "oldest", "updated"),
        "next_query": query_string(kept, after=next_cursor) if next_cursor else None,
        "first_query": query_string(kept),
        "paged": bool(request.query_params.get("after")),
    }


def preview(messages: list[dict[str, Any]] | None, role: str = "user") -> str:
    """The first `role` turn (else the first turn) on one line, truncated for list rows."""
    turns = messages or []
    chosen = next((m for m in turns if m.get("role") == role), turns[0] if turns else None)
    content = chosen.get("content") if chosen else None
    text = " ".join(str(content or "").split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1].rstrip() + "…"
