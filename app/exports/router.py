from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from app.auth.policy import ProjectManage, ProjectRead
from app.exports import service
from app.exports.schemas import ExportCreate, SnapshotOut
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}/exports", tags=["exports"])


@router.post("", status_code=202)
def create_export(
    slug: str, data: ExportCreate, db: SessionDep, access: ProjectManage
) -> SnapshotOut:
    """Freeze a selection into files; poll GET .../exports/{id} (or /api/jobs/{job_id})."""
    snapshot = service.create(db, access.required_project, access.required_user, data)
    return SnapshotOut.model_validate(snapshot)


@router.get("")
def list_exports(slug: str, db: SessionDep, access: ProjectRead) -> list[SnapshotOut]:
    return [SnapshotOut.model_validate(s) for s in service.list_for(db, access.required_project)]


@router.get("/{snapshot_id}")
def get_export(slug: str, snapshot_id: int, db: SessionDep, access: ProjectRead) -> SnapshotOut:
    return SnapshotOut.model_validate(service.get(db, access.required_project, snapshot_id))


@router.get("/{snapshot_id}/files/{name}")
def download(
    slug: str, snapshot_id: int, name: str, request: Request, db: SessionDep, access: ProjectRead
) -> FileResponse:
    """Stream one file of the snapshot from disk (byte-identical on every download)."""
    snapshot = service.get(db, access.required_project, snapshot_id)
    path = service.file_path(snapshot, request.app.state.settings.export_dir, name)
    media = "application/json" if name.endswith(".json") else "application/octet-stream"
    if name.endswith(".jsonl"):
        media = "application/jsonl"
    return FileResponse(path, media_type=media, filename=f"{slug}-export-{snapshot_id}-{name}")
