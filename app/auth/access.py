"""What a policy hands a route: who is calling, how, and their role in the project."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import NotFound, Unauthorized
from app.models import Project, Role, User


@dataclass(slots=True)
class Access:
    user: User | None
    via: str  # "session" | "token" | "anonymous"
    csrf: str | None = None
    project: Project | None = None
    project_role: Role | None = None

    @property
    def required_user(self) -> User:
        if self.user is None:
            raise Unauthorized("login required")
        return self.user

    def has_project_role(self, role: Role) -> bool:
        """Whether the caller's role in the project is `role` or above."""
        return self.project_role is not None and self.project_role.rank >= role.rank

    @property
    def required_project(self) -> Project:
        if self.project is None:
            raise NotFound("project not found")
        return self.project
