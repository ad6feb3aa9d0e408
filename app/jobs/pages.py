"""Job pages: live progress (an htmx partial polled until the job ends), the outcome, the
import's rejects file, and cancelling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from app.auth.policy import SignedIn
from app.errors import NotFound
from app.jobs import service
from app.models import Job, Role, User
from app.projects import service as projects
from app.web.deps import SessionDep
from app.web.pages import redirect_after_post, settings_of
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)


def _job_for(db: Session, job_id: int, user: User) -> Job:
    return service.get_for_user(db, job_id, user, projects.member_project_ids(db, user))


def _job_context(db: Session, job: Job, user: User) -> dict[str, Any]:
    result = job.result or {}
    project = projects.get_by_id(db, job.project_id) if job.project_id else None
    return {
        "job": job,
        "job_project": project,
        "project": project,  # shows the project's tabs above the job
        "result": result,
        "row_errors": result.get("errors") or [],
        "percent": round(100 * min(max(job.progress or 0.0, 0.0), 1.0)),
        "time_left": service.time_left(job),
        "can_cancel": not job.state.finished
        and (user.role is Role.admin or job.created_by_id == user.id),
    }


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: int, db: SessionDep, access: SignedIn) -> Response:
    user = access.required_user
    context = _job_context(db, _job_for(db, job_id, user), user)
    return render(request, "jobs/detail.html", context)


@router.get("/jobs/{job_id}/progress")
def job_progress(request: Request, job_id: int, db: SessionDep, access: SignedIn) -> Response:
    user = access.required_user
    context = _job_context(db, _job_for(db, job_id, user), user)
    return render(request, "jobs/_progress.html", context)


def _rejects_path(request: Request, job: Job) -> Path:
    """The rejects file, only when it lies inside the upload folder (never an arbitrary path)."""
    name = (job.result or {}).get("rejects_file")
    if not isinstance(name, str) or not name:
        raise NotFound(f"job {job.id} has no rejects file")
    upload_dir = settings_of(request).upload_dir.resolve()
    path = Path(name).resolve()
    if not path.is_relative_to(upload_dir) or not path.is_file():
        raise NotFound(f"the rejects file of job {job.id} is gone")
    return path


@router.get("/jobs/{job_id}/rejects")
def job_rejects(request: Request, job_id: int, db: SessionDep, access: SignedIn) -> Response:
    job = _job_for(db, job_id, access.required_user)
    path = _rejects_path(request, job)
    return FileResponse(
        path, media_type="application/jsonl", filename=f"job-{job.id}-rejects.jsonl"
    )


@router.post("/jobs/{job_id}/cancel")
def cancel_job(request: Request, job_id: int, db: SessionDep, access: SignedIn) -> Response:
    user = access.required_user
    service.cancel(db, _job_for(db, job_id, user), user)
    return redirect_after_post(request, f"/jobs/{job_id}")
