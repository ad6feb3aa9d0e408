"""Dashboard and agreement figures as JSON: the same numbers the pages draw."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.policy import ProjectRead
from app.dashboard import agreement as agreement_service
from app.dashboard import service
from app.dashboard.schemas import AgreementOut, DashboardOut
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}", tags=["dashboard"])


@router.get("/dashboard")
def dashboard(slug: str, db: SessionDep, access: ProjectRead) -> DashboardOut:
    return service.dashboard(db, access.required_project)


@router.get("/agreement")
def agreement(slug: str, db: SessionDep, access: ProjectRead) -> AgreementOut:
    return agreement_service.agreement(db, access.required_project)
