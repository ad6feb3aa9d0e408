"""Account pages: API tokens for everyone, user management for admins. Signing in and out
lives in `app.users.sign_in_pages`, included here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth.policy import AdminAccess, SignedIn
from app.errors import Conflict, Invalid
from app.models import Role, User
from app.users import service, sign_in_pages
from app.users.schemas import TokenCreate, UserCreate
from app.web.deps import SessionDep
from app.web.pages import redirect_after_post, validate_form
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
router.include_router(sign_in_pages.router)


def _tokens_page(
    request: Request, db: SessionDep, user: User, status_code: int = 200, **context: Any
) -> Response:
    owners = {u.id: u.email for u in service.list_users(db)} if user.role is Role.admin else {}
    context.setdefault("errors", {})
    context.setdefault("form", {})
    page = {"tokens": service.list_tokens(db, user), "owners": owners, **context}
    return render(request, "users/tokens.html", page, status_code=status_code)


@router.get("/tokens")
def tokens(request: Request, db: SessionDep, access: SignedIn) -> Response:
    return _tokens_page(request, db, access.required_user)


@router.post("/tokens")
def create_token(
    request: Request, db: SessionDep, access: SignedIn, name: Annotated[str, Form()] = ""
) -> Response:
    user = access.required_user
    data, errors = validate_form(TokenCreate, {"name": name.strip()})
    if data is None:
        return _tokens_page(request, db, user, 422, errors=errors, form={"name": name})
    token, secret = service.create_token(db, user, data.name)
    # The secret is shown on this response only (never stored), so no redirect here.
    return _tokens_page(request, db, user, 201, created=token, secret=secret)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, db: SessionDep, access: SignedIn) -> Response:
    service.revoke_token(db, access.required_user, token_id)
    return redirect_after_post(request, "/tokens")


def _users_page(
    request: Request, db: SessionDep, status_code: int = 200, **context: Any
) -> Response:
    context.setdefault("errors", {})
    context.setdefault("form", {"role": Role.annotator.value})
    page = {"users": service.list_users(db), "roles": list(Role), **context}
    return render(
        request,
        "users/admin.html",
        page,
        partial="users/_create_form.html",
        status_code=status_code,
    )


@router.get("/admin/users")
def users_admin(request: Request, db: SessionDep, access: AdminAccess) -> Response:
    return _users_page(request, db)


@router.post("/admin/users")
def create_user(
    request: Request,
    db: SessionDep,
    access: AdminAccess,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    form = {"email": email, "role": role}
    data, errors = validate_form(
        UserCreate, {"email": email.strip(), "role": role, "password": password}
    )
    if data is not None:
        try:
            service.create_user(db, email=data.email, password=data.password, role=data.role)
        except Conflict as exc:
            errors = {"email": exc.message}
        except Invalid as exc:
            errors = {"password" if "password" in exc.message else "email": exc.message}
    if errors:
        return _users_page(request, db, 422, errors=errors, form=form)
    return redirect_after_post(request, "/admin/users")


@router.post("/admin/users/{user_id}")
def update_user(
    request: Request,
    user_id: int,
    db: SessionDep,
    access: AdminAccess,
    role: Annotated[Role | None, Form()] = None,
    active: Annotated[bool | None, Form()] = None,
) -> Response:
    service.update_user(db, access.required_user, user_id, role=role, active=active)
    return redirect_after_post(request, "/admin/users")
