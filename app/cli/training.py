"""`trellis train start|status|logs|cancel`: training runs from the command line.

`start --wait` needs no worker: it runs the submit job itself when no worker has taken it, and
follows the run through the same poll the workers' beat task uses (a worker polling beside it
does no harm: metric lines are stored once).
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from app.cli.base import app, fail, upgrade_database
from app.config import get_settings

train_app = typer.Typer(help="Training runs on export snapshots.", no_args_is_help=True)
app.add_typer(train_app, name="train")
FINISHED = ("succeeded", "failed", "cancelled")


def _pairs(values: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"--set takes FIELD=VALUE, got {item!r}")
        fields[key.strip()] = value
    return fields


def _status(run_id: int) -> dict[str, Any]:
    from app.db import transaction
    from app.training_runs import service

    def read(db: Any) -> dict[str, Any]:
        run = service.get_by_id(db, run_id)
        return {"id": run.id, "state": run.state, "error": run.error, "detail": run.detail,
                "last_metrics": run.last_metrics, "adapter_path": run.adapter_path,
                "summary": run.summary, "metrics_count": run.metrics_count,
                "backend": run.backend, "handle": run.handle}  # fmt: skip

    return transaction(read, write=False)


def _metric_line(row: dict[str, Any]) -> str:
    keys = ("step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_s")
    parts = [f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}"
             for k in keys if row.get(k) is not None]  # fmt: skip
    return f"[{row.get('event', '?')}] " + " ".join(parts)


def follow(run_id: int, interval_s: float = 1.0) -> str:
    """Poll the run in this process until it ends, printing each new metric line."""
    from app.db import transaction
    from app.training_runs import lifecycle, service

    seen = -1
    while True:
        state = lifecycle.poll_run(run_id)
        after = seen

        def read(db: Any, after: int = after) -> list[tuple[int, dict[str, Any]]]:
            return [
                (m.seq, m.row) for m in service.metrics(db, service.get_by_id(db, run_id), after)
            ]

        rows = transaction(read, write=False)
        for seq, row in rows:
            typer.echo(_metric_line(row))
            seen = seq
        if state in FINISHED:
            return state
        time.sleep(interval_s)


@train_app.command("start")
def start(
    project: Annotated[str, typer.Argument(help="project slug")],
    export: Annotated[int, typer.Option("--export", help="a ready export snapshot's id")],
    base_model: Annotated[str, typer.Option("--base-model", help="local dir or hub id")],
    method: Annotated[str, typer.Option(help="sft or dpo")] = "sft",
    preset: Annotated[str, typer.Option(help="qlora, lora or full")] = "qlora",
    backend: Annotated[
        str, typer.Option(help="local, ray, kubernetes, slurm or skypilot")
    ] = "local",
    gpus: Annotated[int, typer.Option(help="GPUs for the run (0: CPU)")] = 1,
    init_run: Annotated[int | None, typer.Option(help="DPO from this SFT run's adapter")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="FIELD=VALUE over the preset, e.g. --set max_steps=50"),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="follow the run; exit 0 only on success")
    ] = False,
) -> None:  # fmt: skip
    """Start a training run on an export snapshot; prints the run id."""
    from app import job_handlers  # noqa: F401 - registers the submit job, as a worker does
    from app.db import get_session_factory, session_scope
    from app.errors import AppError
    from app.jobs.runner import run_job
    from app.projects import repository
    from app.training_runs import forms, service

    upgrade_database()
    settings = get_settings()
    fields = {"export_id": str(export), "method": method, "base_model": base_model,
              "preset": preset, "backend": backend, "gpus": str(gpus),
              **({"init_run_id": str(init_run)} if init_run is not None else {}),
              **_pairs(set_ or [])}  # fmt: skip
    try:
        data = forms.parse(fields)
        with session_scope(write=True) as db:
            target = repository.by_slug(db, project)
            if target is None:
                raise fail(f"project '{project}' not found")
            run = service.create(db, target, None, data, data_dir=settings.data_dir,
                                 export_root=settings.export_dir)  # fmt: skip
            run_id, job_id, memory = run.id, run.job_id, run.memory or {}
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(run_id)
    if not wait:
        return
    typer.echo(f"GPU memory: {memory.get('answer')}", err=True)
    if job_id is not None:
        run_job(job_id, get_session_factory(), heartbeat_s=settings.job_heartbeat_s)
    if _status(run_id)["state"] in ("queued", "submitting"):
        raise fail(
            f"run {run_id} was not submitted: {_status(run_id)['error'] or 'its job did not run'}"
        )
    state = follow(run_id)
    status = _status(run_id)
    if state != "succeeded":
        raise fail(f"run {run_id} {state}: {status['error'] or status['detail'] or ''}")
    typer.echo(f"run {run_id} succeeded; adapter: {status['adapter_path']}")


@train_app.command("status")
def status(
    run: Annotated[int, typer.Argument(help="run id")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """A run's state, last metrics and adapter path (polled now)."""
    from app.errors import AppError
    from app.training_runs import lifecycle

    upgrade_database()
    try:
        lifecycle.poll_run(run)
        found = _status(run)
    except AppError as exc:
        raise fail(exc.message) from exc
    found.pop("handle")
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    typer.echo(f"run {found['id']}: {found['state']} on {found['backend']}")
    if found["last_metrics"]:
        typer.echo(_metric_line(found["last_metrics"]))
    if found["error"]:
        typer.echo(f"error: {found['error']}")
    if found["adapter_path"]:
        typer.echo(f"adapter: {found['adapter_path']}")


@train_app.command("logs")
def logs(
    run: Annotated[int, typer.Argument(help="run id")],
    tail: Annotated[int, typer.Option(help="lines")] = 200,
) -> None:
    """The last lines of the runner's output."""
    from app.errors import AppError
    from app.training.backends import BackendError, backend_for_handle

    upgrade_database()
    try:
        found = _status(run)
    except AppError as exc:
        raise fail(exc.message) from exc
    if found["handle"] is None:
        raise fail(f"run {run} is {found['state']}: not submitted, no output yet")
    try:
        typer.echo(backend_for_handle(found["handle"]).logs(found["handle"], tail))
    except BackendError as exc:
        raise fail(str(exc)) from exc


@train_app.command("cancel")
def cancel(run: Annotated[int, typer.Argument(help="run id")]) -> None:
    """Stop a run (returns once it has stopped) and record it."""
    from app.db import session_scope
    from app.errors import AppError
    from app.training_runs import lifecycle, service

    upgrade_database()
    try:
        with session_scope(write=True) as db:
            found = service.request_cancel(db, service.get_by_id(db, run))
            handle = found.handle
        if handle is not None:
            lifecycle.stop(handle)
            lifecycle.poll_run(run)
        typer.echo(f"run {run}: {_status(run)['state']}")
    except AppError as exc:
        raise fail(exc.message) from exc
