"""The one place where access is decided.

Every route depends on exactly one `Policy` (tests walk `app.routes` to enforce it). A policy
authenticates (session cookie or bearer token), checks CSRF for cookie-authenticated writes,
checks the global role and, for project routes, the caller's role in the project named by the
`slug` path parameter. It returns an `Access` the route uses instead of re-reading the user.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from app.auth import service as auth_service
from app.auth.access import Access
from app.errors import Forbidden, NotFound
from app.models import Role
from app.web.cookies import CSRF_FIELD, CSRF_HEADER
from app.web.deps import SAFE_METHODS, SessionDep


async def _submitted_csrf(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header or request.method in SAFE_METHODS:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


class Policy:
    """A named access rule. Instances are FastAPI dependencies."""

    def __init__(
        self,
        name: str,
        *,
        login: bool = True,
        role: Role | None = None,
        project_role: Role | None = None,
    ) -> None:
        self.name = name
        self.login = login
        self.role = role
        self.project_role = project_role

    def __repr__(self) -> str:
        return f"Policy({self.name!r})"

    def __call__(
        self,
        request: Request,
        db: SessionDep,
        submitted_csrf: Annotated[str | None, Depends(_submitted_csrf)],
    ) -> Access:
        slug = request.path_params.get("slug") if self.project_role is not None else None
        if self.project_role is not None and not isinstance(slug, str):
            raise RuntimeError(f"{self!r} used on a route without a {{slug}} parameter")
        access = auth_service.authenticate(db, request, project_slug=slug)
        request.state.access = access
        # Browsers send cookies on their own, so every cookie-borne (or anonymous) write must
        # prove it came from our page. Bearer tokens are never sent implicitly.
        writes = access.via != "token" and request.method not in SAFE_METHODS
        if writes and not hmac.compare_digest(submitted_csrf or "", access.csrf or "-"):
            raise Forbidden("missing or invalid CSRF token; reload the page and try again")
        if not self.login:
            return access
        user = access.required_user
        if self.role is not None and user.role.rank < self.role.rank:
            raise Forbidden(f"this needs the {self.role.value} role")
        if self.project_role is not None and slug is not None:
            if access.via == "session":
                project, role = access.project, access.project_role  # read with the user
            else:
                project, role = auth_service.project_access(db, user, slug)
            if project is None or role is None:
                # Same answer for "missing" and "not a member": don't reveal project names.
                raise NotFound(f"project '{slug}' not found")
            if role.rank < self.project_role.rank:
                raise Forbidden(f"this needs the {self.project_role.value} role in this project")
            access.project, access.project_role = project, role
        return access


# The rules, by action. Routes pick one of these; nothing else decides access.
public = Policy("public", login=False)
signed_in = Policy("signed_in")
engineer = Policy("engineer", role=Role.engineer)
admin = Policy("admin", role=Role.admin)
project_read = Policy("project.read", project_role=Role.annotator)
project_annotate = Policy("project.annotate", project_role=Role.annotator)
project_review = Policy("project.review", project_role=Role.reviewer)
project_manage = Policy("project.manage", project_role=Role.engineer)

Public = Annotated[Access, Depends(public)]
SignedIn = Annotated[Access, Depends(signed_in)]
EngineerAccess = Annotated[Access, Depends(engineer)]
AdminAccess = Annotated[Access, Depends(admin)]
ProjectRead = Annotated[Access, Depends(project_read)]
ProjectAnnotate = Annotated[Access, Depends(project_annotate)]
ProjectReview = Annotated[Access, Depends(project_review)]
ProjectManage = Annotated[Access, Depends(project_manage)]
