"""The account page: change your password, log out everywhere. Included by `app.auth.pages`.

Both end every browser session of the user on the server (the session generation moves on);
after a password change this browser gets a fresh session so it stays signed in.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import service as auth_service
from app.auth.access import Access
from app.auth.policy import SignedIn
from app.auth.sessions import SessionCodec
from app.errors import Invalid
from app.users import service as users
from app.web.cookies import SESSION_COOKIE
from app.web.deps import SessionDep
from app.web.pages import set_session_cookie
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)


def _page(request: Request, access: Access, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("errors", {})
    context.setdefault("done", None)
    return render(request, "auth/account.html", context, status_code=status_code)


@router.get("/account")
def account(request: Request, access: SignedIn, changed: bool = False) -> Response:
    done = "Password changed; every other session is signed out." if changed else None
    return _page(request, access, done=done)


@router.post("/account/password")
def change_password(
    request: Request,
    db: SessionDep,
    access: SignedIn,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
) -> Response:
    user = access.required_user
    try:
        if new_password != repeat_password:
            raise Invalid("the two new passwords differ")
        users.change_password(db, user, current_password, new_password)
    except Invalid as exc:
        return _page(request, access, 422, errors={"password": exc.message})
    auth_service.end_sessions(db, user)
    response = RedirectResponse("/account?changed=1", status_code=303)
    if access.via == "session":
        codec: SessionCodec = request.app.state.session_codec
        cookie_value, _ = codec.new(user.id, user.session_generation)
        set_session_cookie(response, request, cookie_value)
    return response


@router.post("/account/logout-everywhere")
def logout_everywhere(db: SessionDep, access: SignedIn) -> Response:
    auth_service.end_sessions(db, access.required_user)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
