from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from app.auth.policy import ProjectManage
from app.imports.schemas import ImportOptions
from app.imports.uploads import start_import, store_upload
from app.jobs.schemas import JobOut
from app.models import ItemStatus, Source
from app.web.deps import SessionDep, release_before_slow_work

router = APIRouter(prefix="/api/projects/{slug}/imports", tags=["imports"])


@router.post("", status_code=202)
def create_import(
    slug: str,
    request: Request,
    db: SessionDep,
    access: ProjectManage,
    file: Annotated[UploadFile, File(description="JSONL, JSON, CSV, Parquet, or gzip of those")],
    format: Annotated[str | None, Form()] = None,
    source: Annotated[Source, Form()] = Source.imported,
    generator: Annotated[str | None, Form()] = None,
    skip_invalid: Annotated[bool, Form()] = False,
    status: Annotated[
        ItemStatus, Form(description="draft sends the rows to the labeling queue")
    ] = ItemStatus.submitted,
) -> JobOut:
    """Upload a file; the import runs as a job (poll GET /api/jobs/{id})."""
    settings = request.app.state.settings
    options = ImportOptions(
        format=format or None,
        source=source,
        generator=generator or None,
        skip_invalid=skip_invalid,
        status=status,
    )
    name = file.filename or "upload"
    release_before_slow_work(db)
    path = store_upload(file.file, name, settings.upload_dir, settings.upload_max_bytes)
    job = start_import(db, access.required_project, access.required_user, path, name, options)
    return JobOut.model_validate(job)
