"""Exports: freeze a selection of items into immutable files with a manifest. Never commits.

One streaming pass over the selected items writes every file while the quality gates are
computed; when a gate blocks, the files are discarded and the snapshot records why. Files are
written into `<id>.partial/` and renamed when complete, so a crash never leaves a half snapshot.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.exports import repository, template_limits
from app.exports.chat_templates import TemplateError
from app.exports.files import write_datasets_tar, write_parquet
from app.exports.gates import GateStatus
from app.exports.manifest import build_manifest, gate_json, tool_configs
from app.exports.rows import FORMATS
from app.exports.rows_kto import KTO_FORMAT
from app.exports.schemas import ExportCreate
from app.exports.template_limits import TemplateLimitError
from app.exports.tokens import counter_for
from app.exports.writer import TEXT_FORMAT, Progress, SnapshotWriter, template_for
from app.jobs import service as jobs
from app.models import ExportSnapshot, Project, User
from app.selections import service as selections

EXPORT_JOB = "export"
ALL_FORMATS = (*FORMATS, TEXT_FORMAT, KTO_FORMAT)


def new_snapshot(
    db: Session, project: Project, user_id: int | None, data: ExportCreate
) -> ExportSnapshot:
    """Validate the request and record a pending snapshot (the CLI then runs it in-process)."""
    if data.format not in ALL_FORMATS:
        raise Invalid(f"unknown format '{data.format}'; use one of: {', '.join(ALL_FORMATS)}")
    params = data.model_dump(mode="json")
    if data.format == TEXT_FORMAT:
        try:  # a custom template is test-rendered in a child process, never in the request
            if params.get("custom_template"):
                chosen = template_limits.isolated(template_for, params, project.chat_template)
            else:
                chosen = template_for(params, project.chat_template)
            params["template"] = chosen.name
        except (TemplateError, TemplateLimitError) as exc:
            raise Invalid(str(exc)) from exc
    elif data.custom_template is not None:
        raise Invalid("a custom chat template only applies to the text format")
    if data.format == KTO_FORMAT and (data.tags or data.selection_id is not None):
        raise Invalid("the kto format exports rated feedback: tags and selections don't apply")
    if data.selection_id is not None:
        selection = selections.get(db, project, data.selection_id)
        params["selection"] = {"id": selection.id, "name": selection.name,
                               "items": selection.item_count}  # fmt: skip
    snapshot = ExportSnapshot(
        project_id=project.id, format=data.format, params=params, created_by_id=user_id
    )
    repository.add(db, snapshot)
    return snapshot


def create(db: Session, project: Project, user: User, data: ExportCreate) -> ExportSnapshot:
    """Record the snapshot and queue the job that writes it (sent after the commit)."""
    snapshot = new_snapshot(db, project, user.id, data)
    job = jobs.create(
        db,
        kind=EXPORT_JOB,
        params={"snapshot_id": snapshot.id},
        project_id=project.id,
        user_id=user.id,
    )
    snapshot.job_id = job.id
    return snapshot


def get(db: Session, project: Project, snapshot_id: int) -> ExportSnapshot:
    snapshot = repository.get(db, snapshot_id)
    if snapshot is None or snapshot.project_id != project.id:
        raise NotFound(f"export {snapshot_id} not found in project '{project.slug}'")
    return snapshot


def list_for(db: Session, project: Project) -> list[ExportSnapshot]:
    return repository.for_project(db, project.id)


def file_path(snapshot: ExportSnapshot, export_root: Path, name: str) -> Path:
    """A file of a ready snapshot, by the name its manifest lists (nothing else is served)."""
    if snapshot.state != "ready" or not snapshot.manifest or not snapshot.directory:
        raise Conflict(f"export {snapshot.id} is {snapshot.state}, it has no files to download")
    if name != "manifest.json" and name not in snapshot.manifest.get("files", {}):
        raise NotFound(f"export {snapshot.id} has no file '{name}'")
    path = export_root / snapshot.directory / name
    if not path.is_file():
        raise NotFound(f"the file '{name}' of export {snapshot.id} is missing on disk")
    return path


def preview(
    snapshot: ExportSnapshot, export_root: Path, rows: int = 5
) -> dict[str, list[tuple[str, str | None]]]:
    """The first lines of each JSONL file exactly as written, with the rendered text of `text`
    rows decoded for reading."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    if snapshot.state != "ready" or not snapshot.manifest or not snapshot.directory:
        return out
    for name in snapshot.manifest.get("files", {}):
        if name.endswith(".jsonl") and name != "items.jsonl":
            with (export_root / snapshot.directory / name).open(encoding="utf-8") as fh:
                lines = [line.rstrip("\n") for _, line in zip(range(rows), fh, strict=False)]
            out[name] = [(line, _text_of(line)) for line in lines]
    return out


def _text_of(line: str) -> str | None:
    value = json.loads(line).get("text")
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    """What writing a snapshot's files decided, to be stored in a short transaction of its own."""

    snapshot_id: int
    state: str
    gates: list[dict[str, Any]] | None = None
    manifest: dict[str, Any] | None = None
    directory: str | None = None


def write_files(
    db: Session,
    snapshot_id: int,
    export_root: Path,
    *,
    progress: Progress | None = None,
    tokenizer_path: Path | None = None,
) -> ExportOutcome:
    """Write the snapshot's files and decide its state. Only reads the database: on SQLite a
    transaction that read for minutes could not then write (another connection committed in
    between), so the outcome is recorded by `record` in a transaction of its own."""
    snapshot = repository.get(db, snapshot_id)
    if snapshot is None:
        raise NotFound(f"export {snapshot_id} not found")
    if snapshot.state in ("ready", "blocked", "checked"):
        return ExportOutcome(snapshot.id, snapshot.state, snapshot.gates, snapshot.manifest,
                             snapshot.directory)  # fmt: skip
    project = db.get(Project, snapshot.project_id)
    if project is None:
        raise NotFound(f"the project of export {snapshot_id} is gone")
    report = progress or (lambda _f, _m: None)
    params = snapshot.params
    final = export_root / f"{snapshot.id}"
    partial = export_root / f"{snapshot.id}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # a crashed earlier attempt
    partial.mkdir(parents=True)
    writer = SnapshotWriter(db, project, snapshot, partial, counter_for(tokenizer_path))
    try:
        writer.write_items(report)
    finally:
        writer.files.close()
    gates = [gate_json(g) for g in writer.checker.results()]
    if not any(name != "items.jsonl" for name in writer.files.rows):
        gates.insert(0, {"name": "not_empty", "status": GateStatus.block.value,
                         "summary": "no items match the filters", "items": []})  # fmt: skip
    if any(g["status"] == GateStatus.block.value for g in gates) or params.get("dry_run"):
        shutil.rmtree(partial)
        return ExportOutcome(snapshot.id, "checked" if params.get("dry_run") else "blocked", gates)
    report(0.9, "writing manifest")
    extra = tool_configs(partial, snapshot, writer.files.rows)
    if params.get("container") in ("parquet", "datasets"):
        for name in list(writer.files.rows):
            if name != "items.jsonl":
                convert = write_parquet if params["container"] == "parquet" else write_datasets_tar
                extra.append(convert(partial / name).name)
    manifest = build_manifest(snapshot, project, writer, extra, partial, gates)
    (partial / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return ExportOutcome(snapshot.id, "ready", gates, manifest, final.name)


def record(db: Session, outcome: ExportOutcome) -> ExportSnapshot:
    """Store what `write_files` decided (a no-op for a snapshot that already ended)."""
    snapshot = repository.get(db, outcome.snapshot_id)
    if snapshot is None:
        raise NotFound(f"export {outcome.snapshot_id} not found")
    if snapshot.state in ("pending", "failed"):
        snapshot.state = outcome.state
        snapshot.gates = outcome.gates
        snapshot.manifest = outcome.manifest
        snapshot.directory = outcome.directory
        snapshot.error = None
    return snapshot


def run(
    db: Session,
    snapshot_id: int,
    export_root: Path,
    *,
    progress: Progress | None = None,
    tokenizer_path: Path | None = None,
) -> ExportSnapshot:
    """Write and record in one session (tests, and callers that hold the only connection)."""
    outcome = write_files(
        db, snapshot_id, export_root, progress=progress, tokenizer_path=tokenizer_path
    )
    return record(db, outcome)


def mark_failed(db: Session, snapshot_id: int, reason: str) -> None:
    """The snapshot's job failed or was cancelled: say so on the snapshot, never "pending"."""
    snapshot = repository.get(db, snapshot_id)
    if snapshot is not None and snapshot.state == "pending":
        snapshot.state = "failed"
        snapshot.error = reason[:2000]
