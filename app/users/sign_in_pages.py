"""Signing in and out in the browser. Included by `app.users.pages`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import service as auth_service
from app.auth import throttle
from app.auth.policy import Public, SignedIn
from app.auth.sessions import SessionCodec
from app.errors import Forbidden, Unauthorized
from app.models.base import utcnow
from app.users import account_pages as account
from app.users import service as users
from app.web.cookies import CSRF_COOKIE, SESSION_COOKIE
from app.web.deps import SessionDep
from app.web.pages import cookie_secure, safe_next, set_session_cookie, settings_of
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
router.include_router(account.router)


@router.get("/")
def home(access: Public) -> Response:
    return RedirectResponse("/projects" if access.user else "/login", status_code=303)


def _login_page(
    request: Request,
    db: SessionDep,
    csrf_token: str,
    *,
    next_url: str,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "csrf_token": csrf_token,
        "next": next_url,
        "email": email,
        "error": error,
        "needs_setup": not users.has_users(db),
    }
    return render(request, "auth/login.html", context, status_code=status_code)


@router.get("/login")
def login_form(request: Request, db: SessionDep, access: Public, next: str = "") -> Response:
    target = safe_next(next)
    if access.user is not None:
        return RedirectResponse(target, status_code=303)
    if access.csrf is not None:
        return _login_page(request, db, access.csrf, next_url=target)
    # First visit: a signed double-submit token, since there is no session to hold one yet.
    codec: SessionCodec = request.app.state.session_codec
    cookie_value, token = codec.new_anonymous()
    response = _login_page(request, db, token, next_url=target)
    response.set_cookie(
        CSRF_COOKIE,
        cookie_value,
        max_age=codec.max_age_s,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )
    return response


@router.post("/login")
def login(
    request: Request,
    db: SessionDep,
    access: Public,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    target = safe_next(next)
    settings = settings_of(request)
    keys = throttle.Keys.of(email, request.client.host if request.client else None)
    now = utcnow()
    wait = throttle.wait_s(db, keys, now)
    if wait:
        # Refused before the password is checked, the same way for every email.
        response = _login_page(
            request, db, access.csrf or "", next_url=target, email=email,
            error=f"too many failed sign-ins; try again in {wait} s", status_code=429,
        )  # fmt: skip
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        user = users.authenticate(db, email, password)
    except (Unauthorized, Forbidden) as exc:
        status = 401 if isinstance(exc, Unauthorized) else 403
        if isinstance(exc, Unauthorized):
            throttle.failed(db, settings, keys, now)
        return _login_page(
            request, db, access.csrf or "", next_url=target, email=email, error=exc.message,
            status_code=status,
        )  # fmt: skip
    throttle.succeeded(db, keys)
    codec: SessionCodec = request.app.state.session_codec
    cookie_value, _ = codec.new(user.id, user.session_generation)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, cookie_value)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(db: SessionDep, access: SignedIn) -> Response:
    """Ends the session on the server too: a copy of the cookie stops working (so does every
    other browser session of this user; API tokens are not affected)."""
    if access.via == "session":
        auth_service.end_sessions(db, access.required_user)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
