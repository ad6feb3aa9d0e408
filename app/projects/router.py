from __future__ import annotations

from fastapi import APIRouter

from app.auth.policy import EngineerAccess, ProjectManage, ProjectRead, SignedIn
from app.models import Role
from app.projects import members, service
from app.projects.schemas import MemberSet, ProjectCreate, ProjectOut, ProjectUpdate, Stats
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.get("")
def list_projects(db: SessionDep, access: SignedIn) -> list[ProjectOut]:
    return [ProjectOut.model_validate(p) for p in service.list_for(db, access.required_user)]


@router.post("", status_code=201)
def create_project(data: ProjectCreate, db: SessionDep, access: EngineerAccess) -> ProjectOut:
    return ProjectOut.model_validate(service.create(db, access.required_user, data))


@router.get("/{slug}")
def get_project(slug: str, access: ProjectRead) -> ProjectOut:
    return ProjectOut.model_validate(access.required_project)


@router.patch("/{slug}")
def update_project(
    slug: str, data: ProjectUpdate, db: SessionDep, access: ProjectManage
) -> ProjectOut:
    return ProjectOut.model_validate(service.update(db, access.required_project, data))


@router.get("/{slug}/stats")
def project_stats(slug: str, db: SessionDep, access: ProjectRead) -> Stats:
    return service.stats(db, access.required_project)


@router.put("/{slug}/members")
def set_member(slug: str, data: MemberSet, db: SessionDep, access: ProjectManage) -> dict[str, str]:
    role = access.project_role or Role.annotator
    member = members.set_member(db, access.required_project, role, data.email, data.role)
    return {"email": data.email, "role": member.role.value}


@router.delete("/{slug}/members/{user_id}", status_code=204)
def remove_member(slug: str, user_id: int, db: SessionDep, access: ProjectManage) -> None:
    """Take a member out of the project; nobody removes someone above their own role."""
    role = access.project_role or Role.annotator
    members.remove_member(db, access.required_project, role, user_id)
