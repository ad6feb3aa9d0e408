"""Starting an import from an uploaded file: store the upload, queue a job.

The upload is streamed to disk in chunks (never held in memory); the job row is committed with
the request and the worker is woken only after that commit.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from app.errors import Invalid, PayloadTooLarge
from app.imports.schemas import ImportOptions
from app.jobs import service as jobs
from app.models import Job, Project, User

IMPORT_JOB = "import"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def store_upload(stream: BinaryIO, filename: str, upload_dir: Path, max_bytes: int) -> Path:
    """Copy an upload to `upload_dir` in 1 MiB chunks, refusing more than `max_bytes`."""
    upload_dir.mkdir(parents=True, exist_ok=True)
    safe = _SAFE.sub("_", Path(filename or "upload").name)[-100:] or "upload"
    target = upload_dir / f"{uuid.uuid4().hex}-{safe}"
    written = 0
    with target.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            written += len(chunk)
            if written > max_bytes:
                out.close()
                target.unlink(missing_ok=True)
                raise PayloadTooLarge(
                    f"{filename}: larger than the upload limit of {max_bytes:,} bytes"
                )
            out.write(chunk)
    if written == 0:
        target.unlink(missing_ok=True)
        raise Invalid(f"{filename}: the uploaded file is empty")
    return target


def start_import(
    db: Session, project: Project, user: User, path: Path, display_name: str, options: ImportOptions
) -> Job:
    rejects = path.with_name(path.name + ".rejects.jsonl")
    return jobs.create(
        db,
        kind=IMPORT_JOB,
        params={
            "path": str(path.resolve()),
            "display_name": display_name,
            "rejects_path": str(rejects.resolve()),
            "options": options.model_dump(mode="json"),
        },
        project_id=project.id,
        user_id=user.id,
    )


def discard(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
