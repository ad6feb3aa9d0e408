from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Example, Job, PreferencePair, Project, ProjectMember, Role, User


def by_slug(db: Session, slug: str) -> Project | None:
    return db.scalar(select(Project).where(Project.slug == slug))


def by_id(db: Session, project_id: int) -> Project | None:
    return db.get(Project, project_id)


def visible_to(db: Session, user: User) -> list[Project]:
    query = select(Project).order_by(Project.name)
    if user.role is not Role.admin:
        query = query.join(ProjectMember).where(ProjectMember.user_id == user.id)
    return list(db.scalars(query))


def member_ids(db: Session, user: User) -> set[int]:
    return set(db.scalars(select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)))


def add(db: Session, obj: Project | ProjectMember) -> None:
    db.add(obj)
    db.flush()


def remove(db: Session, member: ProjectMember) -> None:
    db.delete(member)
    db.flush()


def membership(db: Session, project_id: int, user_id: int) -> ProjectMember | None:
    return db.scalar(
        select(ProjectMember).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
        )
    )


def members(db: Session, project_id: int) -> list[tuple[User, Role]]:
    rows = db.execute(
        select(User, ProjectMember.role)
        .join(ProjectMember, ProjectMember.user_id == User.id)
        .where(ProjectMember.project_id == project_id)
        .order_by(User.email)
    )
    return [(u, r) for u, r in rows]


def counts(db: Session, project_id: int) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for key, model in (("examples", Example), ("pairs", PreferencePair)):
        by_status = db.execute(
            select(model.status, func.count())
            .where(model.project_id == project_id)
            .group_by(model.status)
        )
        by_source = db.execute(
            select(model.source, func.count())
            .where(model.project_id == project_id)
            .group_by(model.source)
        )
        out[key] = {
            "status": {s.value: n for s, n in by_status},
            "source": {s.value: n for s, n in by_source},
        }
    out["examples"]["flags"] = {
        "needs_response": int(
            db.scalar(
                select(func.count()).where(
                    Example.project_id == project_id, Example.needs_response.is_(True)
                )
            )
            or 0
        )
    }
    return out


def recent_jobs(db: Session, project_id: int, limit: int) -> list[Job]:
    """The project's latest jobs, newest first, for its overview page. (Read here rather than
    through app.jobs: the jobs pages look projects up, so projects must not import jobs.)"""
    query = select(Job).where(Job.project_id == project_id).order_by(Job.id.desc())
    return list(db.scalars(query.limit(limit)))
