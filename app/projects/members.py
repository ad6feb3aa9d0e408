"""Who may grant which project role: nobody above their own role, nobody over someone above them.

Admin is a global role (admins act as admins in every project), never a project membership.
The acting caller's role is their role in the project (admins: admin). Never commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.errors import Forbidden, Invalid, NotFound
from app.models import Project, ProjectMember, Role, User
from app.projects import repository
from app.users import repository as users_repository


def _standing(db_role: Role | None, user: User) -> Role | None:
    """A user's effective role in a project: admin for global admins, else their membership."""
    return Role.admin if user.role is Role.admin else db_role


def _check_over(actor_role: Role, target: User, target_role: Role | None, verb: str) -> None:
    standing = _standing(target_role, target)
    if standing is not None and standing.rank > actor_role.rank:
        raise Forbidden(
            f"you cannot {verb} {target.email}: they are {standing.value} here, above your "
            f"own role ({actor_role.value})"
        )


def set_member(
    db: Session, project: Project, actor_role: Role, email: str, role: Role
) -> ProjectMember:
    """Add `email` to the project with `role`, or change their role."""
    if role is Role.admin:
        raise Invalid("admin is a global role; pick a project role")
    if role.rank > actor_role.rank:
        raise Forbidden(
            f"you cannot grant the {role.value} role: it is above your own ({actor_role.value})"
        )
    user = users_repository.by_email(db, email)
    if user is None:
        raise NotFound(f"no user with email {email}")
    member = repository.membership(db, project.id, user.id)
    _check_over(actor_role, user, member.role if member else None, "change the role of")
    if member is None:
        member = ProjectMember(project_id=project.id, user_id=user.id, role=role)
        repository.add(db, member)
    else:
        member.role = role
    return member


def remove_member(db: Session, project: Project, actor_role: Role, user_id: int) -> User:
    """Take a member out of the project (their labels and edits stay, attributed to them)."""
    user = users_repository.get(db, user_id)
    member = repository.membership(db, project.id, user_id) if user is not None else None
    if user is None or member is None:
        raise NotFound(f"user {user_id} is not a member of project '{project.slug}'")
    _check_over(actor_role, user, member.role, "remove")
    repository.remove(db, member)
    return user
