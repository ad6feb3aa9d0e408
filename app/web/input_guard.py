"""Ordinary bad input answers 4xx, never 5xx: one middleware and two exception handlers.

- URLs with a NUL character or a lone surrogate, and JSON bodies whose strings (or keys) hold
  them or whose integers do not fit in 64 bits, are refused with 422 before any route runs.
  Neither PostgreSQL text nor UTF-8 can hold them (a lone surrogate stored in SQLite would
  break every page that later shows it).
- An id too large for its column reaches the database only to be refused there (PostgreSQL
  raises DataError, SQLite OverflowError): the handlers answer 404 for such an id in the path,
  422 otherwise, without the SQL.

JSON bodies are only walked when a cheap scan of the raw bytes finds a `\\u0000` escape, a
surrogate escape or a 19-digit number, so ordinary requests pay two regex searches.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.errors import error_response

INT8_MAX = 2**63 - 1
INT4_MAX = 2**31 - 1
_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|\d{19}")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_BAD_URL = re.compile(r"%00|\x00|[\ud800-\udfff]")


def problem_in(value: Any, where: str = "body") -> str | None:
    """Where and what is wrong in a parsed JSON value (None when nothing is)."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            found = _BAD_TEXT.search(item)
            if found:
                what = "a NUL character" if found.group() == "\x00" else "a lone surrogate"
                return f"{path}: text must not contain {what}"
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if abs(item) > INT8_MAX:
                return f"{path}: number too large (at most {INT8_MAX})"
        elif isinstance(item, dict):
            for key, sub in item.items():
                bad_key = problem_in(key, f"{path} (a key)")
                if bad_key:
                    return bad_key
                stack.append((f"{path}.{key}", sub))
        elif isinstance(item, list):
            stack.extend((f"{path}.{n}", sub) for n, sub in enumerate(item))
    return None


def _reject(message: str) -> JSONResponse:
    errors = [{"field": message.split(":", 1)[0], "error": message.split(": ", 1)[-1]}]
    body = {"error": "invalid", "message": message, "details": {"errors": errors}}
    return JSONResponse(body, status_code=422)


class InputGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        if _BAD_URL.search(scope.get("path", "")) or _BAD_URL.search(unquote(query)):
            await _reject("url: the address must not contain NUL characters")(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"")
        is_form = content_type.startswith(b"application/x-www-form-urlencoded")
        if not (is_form or content_type.startswith(b"application/json")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if is_form and _BAD_URL.search(unquote(body.decode("latin-1"))):
            await _reject("form: text must not contain NUL characters")(scope, receive, send)
            return
        if not is_form and _SUSPECT.search(body):
            try:
                problem = problem_in(json.loads(body))
            except ValueError:
                problem = None  # not JSON at all: the route's own validation says so
            if problem:
                await _reject(problem)(scope, receive, send)
                return
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
        await self.app(scope, _replay(replay, receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replayed


def _out_of_range(request: Request) -> Response:
    for name, value in request.path_params.items():
        text = str(value)
        if text.lstrip("-").isdigit() and abs(int(text)) > INT4_MAX:
            return error_response(request, 404, "not_found", f"{name} {value} not found")
    message = "a value in the request is out of range or cannot be stored (e.g. an id too large)"
    return error_response(request, 422, "invalid", message)


def install(app: FastAPI) -> None:
    app.add_middleware(InputGuard)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> Response:
        return _out_of_range(request)

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> Response:
        return _out_of_range(request)
