"""Training runs: create one from a ready export snapshot, read, cancel. Never commits.

A run is created in the request: the snapshot's files are verified against its manifest, the
configuration validated (preset, every field, the model's modules), the GPU memory estimated and
the run directory written (`<data_dir>/training/<run id>/`: `data/` holds the snapshot's training
files, hard-linked, and `config.json` the runner's configuration). A short job then submits it
to the backend (`lifecycle.submit`), and the poller follows it by its stored handle.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.exports import service as exports
from app.exports.files import sha256_file
from app.jobs import service as jobs
from app.models import EvaluationRun, ExportSnapshot, Project, TrainingMetric, TrainingRun, User
from app.models.base import utcnow
from app.training.config import RunConfig, check_model, read_model_config
from app.training.memory import ModelConfigError
from app.training_runs import repository
from app.training_runs.schemas import TrainingCreate

SUBMIT_JOB = "training_submit"
#: Which export format each method trains on, and the file prefix it writes.
METHOD_FORMATS = {"sft": ("messages", "sft"), "dpo": ("trl_preference", "preference")}
SPLITS = {"train": "train", "validation": "eval"}


def training_root(data_dir: Path) -> Path:
    return data_dir / "training"


def verify_snapshot(snapshot: ExportSnapshot, export_root: Path) -> Path:
    """The snapshot's folder, once every file in its manifest matches its SHA-256."""
    if snapshot.state != "ready" or not snapshot.manifest or not snapshot.directory:
        raise Conflict(f"export {snapshot.id} is {snapshot.state}: only a ready export trains")
    folder = export_root / snapshot.directory
    for name, info in sorted(snapshot.manifest.get("files", {}).items()):
        path = folder / name
        if not path.is_file():
            raise Invalid(f"export {snapshot.id}: the file {name} is missing on disk")
        digest = sha256_file(path)
        if digest != info.get("sha256"):
            raise Invalid(
                f"export {snapshot.id}: the file {name} does not match its manifest "
                f"(SHA-256 {digest[:16]}…, manifest {str(info.get('sha256'))[:16]}…); "
                "it changed after export: export again",
                details={"file": name},
            )
    return folder


def training_files(snapshot: ExportSnapshot, method: str) -> list[tuple[str, str]]:
    """(file name, split) of the snapshot's files the method trains on."""
    fmt, prefix = METHOD_FORMATS[method]
    if snapshot.format != fmt:
        what = "conversations (messages)" if method == "sft" else "preference pairs"
        raise Invalid(
            f"{method} trains on {what}: export {snapshot.id} is in the {snapshot.format} "
            f"format; export the project again with the {fmt} format",
            details={"field": "export_id"},
        )
    files = (snapshot.manifest or {}).get("files", {})
    chosen = [(f"{prefix}_{s}.jsonl", split) for s, split in SPLITS.items()]
    chosen = [(name, split) for name, split in chosen if files.get(name, {}).get("rows", 1)]
    chosen = [(name, split) for name, split in chosen if name in files]
    if not any(split == "train" for _, split in chosen):
        raise Invalid(
            f"export {snapshot.id} has no {prefix}_train.jsonl rows to train {method} on",
            details={"field": "export_id"},
        )
    return chosen


def _fields(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "config"
        errors.setdefault(field, str(error["msg"]).removeprefix("Value error, "))
    return errors


def build_config(
    data: TrainingCreate, snapshot: ExportSnapshot | None, init_adapter: str | None = None
) -> RunConfig:
    """The run's RunConfig: preset defaults, the snapshot's sequence length, the caller's
    fields; raises Invalid with ``details={"fields": {field: message}}``."""
    fields: dict[str, Any] = {}
    if snapshot is not None and snapshot.params.get("sequence_len"):
        fields["sequence_len"] = int(snapshot.params["sequence_len"])
    fields.update(data.config)
    fields.update(method=data.method, base_model=data.base_model,
                  num_gpus=max(1, data.resources.gpus))  # fmt: skip
    if init_adapter is not None:
        fields["init_adapter"] = init_adapter
    fields.pop("preset", None)
    try:
        config = RunConfig.for_preset(data.preset, **fields)
    except ValidationError as exc:
        errors = _fields(exc)
        raise Invalid(
            "; ".join(f"{k}: {v}" for k, v in errors.items()), details={"fields": errors}
        ) from exc
    except TypeError as exc:
        raise Invalid(str(exc), details={"fields": {"config": str(exc)}}) from exc
    check_model(config)
    return config


def memory_of(config: RunConfig) -> dict[str, Any]:
    """The GPU-memory estimate and its plain answer (none when the model config is unreadable)."""
    model_config = read_model_config(config.base_model)
    none: dict[str, Any] = {"total_gib": None, "breakdown_gib": {}, "trainable_params": None}
    if model_config is None:
        reason = f"{config.base_model} has no config.json readable here"
        return {**none, "answer": f"no estimate: {reason}"}
    try:
        found = config.memory(model_config)
    except (ModelConfigError, ValueError) as exc:
        return {**none, "answer": f"no estimate: {exc}"}
    return {"total_gib": round(found.total_gib, 2), "answer": found.answer,
            "breakdown_gib": found.breakdown_gib(),
            "trainable_params": found.trainable_params}  # fmt: skip


def estimate(db: Session, project: Project, data: TrainingCreate) -> dict[str, Any]:
    """The memory estimate of a proposed run (nothing is written)."""
    snapshot = exports.get(db, project, data.export_id)
    return memory_of(build_config(data, snapshot))


def _init_run(db: Session, project: Project, run_id: int) -> TrainingRun:
    init = get(db, project, run_id)
    if init.method != "sft" or init.state != "succeeded" or not init.adapter_path:
        raise Invalid(
            f"init run {run_id} is a {init.method} run that is {init.state}: "
            "DPO starts from a succeeded SFT run's adapter",
            details={"fields": {"init_run_id": "choose a succeeded SFT run"}},
        )
    if not Path(init.adapter_path).is_dir():
        raise Invalid(f"the adapter of run {run_id} is gone from {init.adapter_path}")
    return init


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed: copy
        shutil.copy2(source, target)


def create(
    db: Session,
    project: Project,
    user: User | None,
    data: TrainingCreate,
    *,
    data_dir: Path,
    export_root: Path,
) -> TrainingRun:
    """Verify, validate, write the run directory and queue the submit job."""
    snapshot = exports.get(db, project, data.export_id)
    folder = verify_snapshot(snapshot, export_root)
    files = training_files(snapshot, data.method)
    init = None
    if data.init_run_id is not None:
        if data.method != "dpo":
            raise Invalid("init_run_id continues an SFT adapter with DPO: choose method dpo",
                          details={"fields": {"init_run_id": "only for DPO"}})  # fmt: skip
        init = _init_run(db, project, data.init_run_id)
    config = build_config(data, snapshot, "init/adapter" if init is not None else None)
    run = TrainingRun(
        project_id=project.id, snapshot_id=snapshot.id, method=config.method,
        base_model=config.base_model, preset=config.preset, config=config.model_dump(),
        backend=data.backend, resources=data.resources.model_dump(), state="queued",
        memory=memory_of(config), init_run_id=init.id if init else None,
        created_by_id=user.id if user else None,
    )  # fmt: skip
    repository.add(db, run)
    run_dir = training_root(data_dir).resolve() / str(run.id)
    if run_dir.exists():
        shutil.rmtree(run_dir)  # left by a run whose transaction rolled back
    data_files = []
    for name, split in files:
        _link(folder / name, run_dir / "data" / name)
        sha = (snapshot.manifest or {})["files"][name]["sha256"]
        data_files.append({"path": f"data/{name}", "sha256": sha, "split": split})
    if init is not None and init.adapter_path:
        shutil.copytree(init.adapter_path, run_dir / "init" / "adapter")
    runner_config = config.to_runner_config(data_files)
    (run_dir / "config.json").write_text(json.dumps(runner_config, indent=2), encoding="utf-8")
    run.run_dir = str(run_dir)
    job = jobs.create(db, kind=SUBMIT_JOB, params={"run_id": run.id},
                      project_id=project.id, user_id=user.id if user else None)  # fmt: skip
    run.job_id = job.id
    return run


def get(db: Session, project: Project, run_id: int) -> TrainingRun:
    run = repository.get(db, run_id)
    if run is None or run.project_id != project.id:
        raise NotFound(f"training run {run_id} not found in project '{project.slug}'")
    return run


def get_by_id(db: Session, run_id: int) -> TrainingRun:
    """A run by its id alone (the CLI, which acts as an administrator)."""
    run = repository.get(db, run_id)
    if run is None:
        raise NotFound(f"training run {run_id} not found")
    return run


def list_for(db: Session, project: Project) -> list[TrainingRun]:
    return repository.for_project(db, project.id)


def metrics(db: Session, run: TrainingRun, after_seq: int = -1) -> list[TrainingMetric]:
    return repository.metrics(db, run.id, after_seq)


def evaluations(db: Session, run: TrainingRun) -> list[EvaluationRun]:
    """Evaluations of the run's adapter (their gate reports and verdicts), newest first."""
    return repository.evaluations(db, run.id)


def request_cancel(db: Session, run: TrainingRun) -> TrainingRun:
    """Ask for the run to stop. A run not yet submitted is cancelled here; a submitted one is
    marked; the next poll tells the backend (a local run is stopped by the request itself)."""
    if run.finished:
        raise Conflict(f"training run {run.id} already {run.state}")
    if run.state == "manual":
        raise Conflict(
            f"training run {run.id} was submitted by hand to {run.backend}: cancel it there"
        )
    run.cancel_requested = True
    if run.handle is None and run.state == "queued":
        run.state, run.finished_at = "cancelled", utcnow()
        run.error = "cancelled before it was submitted"
    return run


def adapter_dir(run: TrainingRun) -> Path:
    if run.state != "succeeded" or not run.adapter_path:
        raise Conflict(f"training run {run.id} is {run.state}: it has no adapter to download")
    path = Path(run.adapter_path)
    if not path.is_dir():
        raise NotFound(f"the adapter of run {run.id} is missing on disk")
    return path


def mark_failed(db: Session, run_id: int, reason: str) -> None:
    """The submit job failed: a run that never got a handle says so, never stays queued."""
    run = repository.get(db, run_id)
    if run is not None and run.handle is None and not run.finished:
        run.state, run.error, run.finished_at = "failed", reason[:2000], utcnow()
