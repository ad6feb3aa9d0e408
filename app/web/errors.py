"""One place that turns errors into responses: JSON under /api, an HTML page or an htmx
toast elsewhere."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException

from app.errors import AppError, Conflict
from app.web.templating import is_htmx, render


def _wants_json(request: Request) -> bool:
    return (
        request.url.path.startswith("/api/")
        or "application/json" in request.headers.get("accept", "").split(",")[0]
    )


def error_response(
    request: Request, status: int, code: str, message: str, details: Any = None
) -> Response:
    if _wants_json(request):
        body: dict[str, Any] = {"error": code, "message": message}
        if details is not None:
            body["details"] = details
        return JSONResponse(body, status_code=status)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"/login?{urlencode({'next': target}, safe='/')}"
        if is_htmx(request):
            # A poll or a form whose session expired: send the whole page to the login form.
            return Response(status_code=204, headers={"HX-Redirect": login})
        return RedirectResponse(login, status_code=303)
    if is_htmx(request):
        # htmx swaps nothing on 4xx by default; the toast partial is shown by the base page.
        return render(
            request,
            "macros/toast.html",
            {"message": message, "status": status},
            status_code=status,
            headers={"HX-Retarget": "#toasts", "HX-Reswap": "beforeend"},
        )
    return render(
        request,
        "error.html",
        {"message": message, "status": status, "details": details},
        status_code=status,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return error_response(request, exc.status_code, exc.code, exc.message, exc.details)

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> Response:
        err = Conflict("someone else saved this item at the same moment; reload and retry")
        return error_response(request, err.status_code, err.code, err.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), "error": e["msg"]}
            for e in exc.errors()
        ]
        message = "; ".join(f"{e['field']}: {e['error']}" for e in errors)
        return error_response(request, 422, "invalid", message, {"errors": errors})

    @app.exception_handler(ValidationError)
    async def _invalid_model(request: Request, exc: ValidationError) -> Response:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "error": e["msg"]} for e in exc.errors()
        ]
        message = "; ".join(f"{e['field']}: {e['error']}" for e in errors)
        return error_response(request, 422, "invalid", message, {"errors": errors})

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        codes = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }
        return error_response(
            request, exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail)
        )
