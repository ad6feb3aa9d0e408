"""Jinja2 environment (autoescape everywhere) and the full-page-or-partial renderer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app import __version__
from app.items import listing
from app.web.cookies import CSRF_FIELD, CSRF_HEADER
from app.web.markdown import render_markdown, render_turn

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
STATIC_DIR = Path(__file__).resolve().parents[2] / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.autoescape = True
templates.env.filters["markdown"] = render_markdown
templates.env.filters["turn_markdown"] = render_turn
templates.env.filters["pretty_json"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False)
templates.env.globals["trellis_version"] = __version__
templates.env.globals["CSRF_FIELD"] = CSRF_FIELD
templates.env.globals["CSRF_HEADER"] = CSRF_HEADER
templates.env.globals["COUNT_CAP"] = listing.COUNT_CAP


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    partial: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render `template`, or `partial` instead when htmx asked for a fragment."""
    name = partial if partial is not None and is_htmx(request) else template
    access = getattr(request.state, "access", None)
    ctx: dict[str, Any] = {
        "user": access.user if access else None,
        "csrf_token": access.csrf if access else None,
        "project": access.project if access else None,
        "project_role": access.project_role if access else None,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)
