from __future__ import annotations

from fastapi import APIRouter

from app.auth.policy import SignedIn
from app.jobs import service
from app.jobs.schemas import JobOut
from app.projects import service as projects
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("/{job_id}")
def get_job(job_id: int, db: SessionDep, access: SignedIn) -> JobOut:
    user = access.required_user
    job = service.get_for_user(db, job_id, user, projects.member_project_ids(db, user))
    return JobOut.model_validate(job)


@router.post("/{job_id}/cancel")
def cancel_job(job_id: int, db: SessionDep, access: SignedIn) -> JobOut:
    user = access.required_user
    job = service.get_for_user(db, job_id, user, projects.member_project_ids(db, user))
    return JobOut.model_validate(service.cancel(db, job, user))
