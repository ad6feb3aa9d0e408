"""Training runs over JSON (bearer tokens): start, list, read, metrics, logs, cancel, download."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.auth.policy import ProjectManage, ProjectRead
from app.training_runs import forms, lifecycle, service
from app.training_runs.schemas import LogsOut, MemoryOut, MetricOut, RunOut, TrainingCreate
from app.web.deps import SessionDep
from app.web.pages import settings_of

router = APIRouter(prefix="/api/projects/{slug}/training", tags=["training"])


@router.post("/runs", status_code=202)
def start_run(
    slug: str, data: TrainingCreate, request: Request, db: SessionDep, access: ProjectManage
) -> RunOut:
    """Verify the snapshot, validate, write the run directory and queue its submission; poll
    GET .../runs/{id} for its state and metrics."""
    settings = settings_of(request)
    run = service.create(
        db, access.required_project, access.required_user, data,
        data_dir=settings.data_dir, export_root=settings.export_dir,
    )  # fmt: skip
    return RunOut.model_validate(run)


@router.get("/estimate")
def estimate(slug: str, request: Request, db: SessionDep, access: ProjectRead) -> MemoryOut:
    """The GPU-memory estimate of a proposed run, with its plain answer (nothing is started).

    Query parameters: export_id, method, base_model, preset, gpus and any RunConfig field
    (lora_rank, sequence_len, micro_batch, optimizer, lora_targets=q_proj,v_proj…)."""
    data = forms.parse(dict(request.query_params))
    return MemoryOut.model_validate(service.estimate(db, access.required_project, data))


@router.get("/runs")
def list_runs(slug: str, db: SessionDep, access: ProjectRead) -> list[RunOut]:
    return [RunOut.model_validate(r) for r in service.list_for(db, access.required_project)]


@router.get("/runs/{run_id}")
def get_run(slug: str, run_id: int, db: SessionDep, access: ProjectRead) -> RunOut:
    return RunOut.model_validate(service.get(db, access.required_project, run_id))


@router.get("/runs/{run_id}/metrics")
def get_metrics(
    slug: str,
    run_id: int,
    db: SessionDep,
    access: ProjectRead,
    after: Annotated[int, Query(description="only lines after this seq")] = -1,
) -> list[MetricOut]:
    """The metric lines as the runner wrote them, in order (for loss curves)."""
    run = service.get(db, access.required_project, run_id)
    return [MetricOut.model_validate(m) for m in service.metrics(db, run, after)]


@router.get("/runs/{run_id}/logs")
def get_logs(slug: str, run_id: int, db: SessionDep, access: ProjectRead) -> LogsOut:
    """The last lines of the runner's output, as of the latest poll."""
    run = service.get(db, access.required_project, run_id)
    return LogsOut(run_id=run.id, state=run.state, text=run.log_tail or "")


@router.post("/runs/{run_id}/cancel", status_code=202)
def cancel_run(slug: str, run_id: int, db: SessionDep, access: ProjectManage) -> RunOut:
    """Ask the run to stop; a local run is stopped by this request."""
    run = service.request_cancel(db, service.get(db, access.required_project, run_id))
    if run.backend == "local" and run.handle is not None:
        lifecycle.stop(run.handle)
    return RunOut.model_validate(run)


def _tar_stream(folder: Path, prefix: str) -> Iterator[bytes]:
    """A tar of ``folder`` written piece by piece (no temporary file)."""

    class Chunks:
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        def write(self, data: bytes) -> int:
            self.parts.append(bytes(data))
            return len(data)

    sink = Chunks()
    with tarfile.open(fileobj=sink, mode="w|") as tar:  # type: ignore[call-overload]
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=f"{prefix}/{path.relative_to(folder)}", recursive=False)
            yield from sink.parts
            sink.parts.clear()
    yield from sink.parts


@router.get("/runs/{run_id}/artifacts/adapter.tar")
def download_adapter(
    slug: str, run_id: int, db: SessionDep, access: ProjectRead
) -> StreamingResponse:
    """The trained adapter (or, for a full fine-tune, the model) as a tar."""
    run = service.get(db, access.required_project, run_id)
    folder = service.adapter_dir(run)
    name = f"{slug}-run-{run.id}-adapter"
    return StreamingResponse(
        _tar_stream(folder, name),
        media_type="application/x-tar",
        headers={"Content-Disposition": f'attachment; filename="{name}.tar"'},
    )
