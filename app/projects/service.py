"""Projects and their members. Never commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.models import ItemStatus, Job, Project, ProjectMember, Role, Source, User
from app.projects import repository
from app.projects.schemas import CHAT_TEMPLATES, ProjectCreate, ProjectUpdate, Stats


def create(db: Session, user: User, data: ProjectCreate) -> Project:
    if user.role.rank < Role.engineer.rank:
        raise Forbidden("creating a project needs the engineer role")
    if data.chat_template not in CHAT_TEMPLATES:
        raise Invalid(f"unknown chat template '{data.chat_template}'; use one of {CHAT_TEMPLATES}")
    if repository.by_slug(db, data.slug) is not None:
        raise Conflict(f"a project with slug '{data.slug}' already exists")
    project = Project(
        slug=data.slug,
        name=data.name.strip() or data.slug,
        description=data.description,
        guidelines=data.guidelines,
        system_prompt=data.system_prompt,
        chat_template=data.chat_template,
        created_by_id=user.id,
        min_submissions=data.min_submissions,
        approvals_required=data.approvals_required,
        annotators_edit_prompts=data.annotators_edit_prompts,
        label_tags=data.label_tags,
    )
    repository.add(db, project)
    # The creator runs the project; admins see every project without a membership.
    repository.add(db, ProjectMember(project_id=project.id, user_id=user.id, role=Role.engineer))
    return project


def update(db: Session, project: Project, data: ProjectUpdate) -> Project:
    """Change a project's settings. Raising `min_submissions` opens more labeling slots the
    next time the queue is asked for an item; lowering it never discards submitted labels."""
    changes = data.model_dump(exclude_unset=True)
    if changes.get("chat_template") not in (None, *CHAT_TEMPLATES):
        raise Invalid(
            f"unknown chat template '{changes['chat_template']}'; use one of {CHAT_TEMPLATES}"
        )
    for key, value in changes.items():
        if value is None:
            continue
        if key == "name":
            value = value.strip() or project.slug
        setattr(project, key, value)
    return project


def get(db: Session, slug: str) -> Project:
    project = repository.by_slug(db, slug)
    if project is None:
        raise NotFound(f"project '{slug}' not found")
    return project


def get_by_id(db: Session, project_id: int) -> Project | None:
    return repository.by_id(db, project_id)


def recent_jobs(db: Session, project_id: int, limit: int) -> list[Job]:
    return repository.recent_jobs(db, project_id, limit)


def member_project_ids(db: Session, user: User) -> set[int]:
    return repository.member_ids(db, user)


def list_for(db: Session, user: User) -> list[Project]:
    return repository.visible_to(db, user)


def members(db: Session, project: Project) -> list[tuple[User, Role]]:
    return repository.members(db, project.id)


def stats(db: Session, project: Project) -> Stats:
    raw = repository.counts(db, project.id)

    def full(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        status = {s.value: counts["status"].get(s.value, 0) for s in ItemStatus}
        source = {s.value: counts["source"].get(s.value, 0) for s in Source}
        out = {"status": status, "source": source, "total": {"all": sum(status.values())}}
        if "flags" in counts:
            out["flags"] = counts["flags"]
        return out

    return Stats(project=project.slug, examples=full(raw["examples"]), pairs=full(raw["pairs"]))
