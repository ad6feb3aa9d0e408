"""Training pages: the new-run form (presets, every field, a live memory estimate), a run with
its live loss curve, log tail and artifacts, and the project's runs with a side-by-side view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.auth.policy import ProjectManage, ProjectRead
from app.errors import AppError, Invalid
from app.exports import service as exports
from app.models import TrainingRun
from app.training.config import GALORE_OPTIMIZERS, LORA_OPTIMIZERS, PRESETS, SCHEDULERS, RunConfig
from app.training_runs import curves, forms, lifecycle, service
from app.web.deps import SessionDep
from app.web.pages import redirect_after_post, settings_of
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
YES_NO = [("true", "yes"), ("false", "no")]
BACKENDS = [("local", "local: a process on the worker's host"),
            ("ray", "ray: a Ray cluster (TRELLIS_RAY_ADDRESS)"),
            ("kubernetes", "kubernetes: a Job manifest you apply by hand"),
            ("slurm", "slurm: an sbatch script you submit by hand"),
            ("skypilot", "skypilot: a task YAML you launch by hand")]  # fmt: skip
#: (name, label, choices or None, help) of each editable RunConfig field, in form order.
CONFIG_FORM: list[tuple[str, str, list[tuple[str, str]] | None, str]] = [
    ("lora_rank", "LoRA rank", None, "any positive integer"),
    ("lora_alpha", "LoRA alpha", None, "> 0"),
    ("lora_dropout", "LoRA dropout", None, "0 to < 1"),
    ("lora_targets", "LoRA target modules", None, "comma-separated, or all-linear"),
    ("learning_rate", "Learning rate", None, ""),
    ("epochs", "Epochs", None, ""),
    ("max_steps", "Max steps", None, "-1: run the epochs"),
    ("sequence_len", "Sequence length", None, "tokens; defaults to the export's"),
    ("micro_batch", "Micro-batch", None, "per GPU"),
    ("grad_accum", "Gradient accumulation", None, ""),
    ("optimizer", "Optimizer", None, "GaLore optimizers need the full preset"),
    ("lr_scheduler", "Scheduler", [(s, s) for s in SCHEDULERS], ""),
    ("warmup_ratio", "Warm-up ratio", None, ""),
    ("weight_decay", "Weight decay", None, ""),
    ("gradient_checkpointing", "Gradient checkpointing", YES_NO, ""),
    ("assistant_only_loss", "Loss on assistant turns only", YES_NO, ""),
    ("dpo_beta", "DPO beta", None, "DPO only"),
    ("eval_fraction", "Eval fraction", None, "held out when the export has no validation file"),
    ("eval_steps", "Eval every N steps", None, "empty: each epoch"),
    ("merge", "Merge adapter into the base at the end", YES_NO, ""),
    ("seed", "Seed", None, ""),
    ("zero_stage", "DeepSpeed ZeRO stage", [("", "none"), ("2", "2"), ("3", "3")], "2+ GPUs"),
]
RESOURCE_FORM = [("gpus", "GPUs", "0: train on CPU"), ("cpus", "CPUs", ""),
                 ("memory_gb", "Memory (GB)", "optional"), ("gpu_type", "GPU type", "optional"),
                 ("time_limit_minutes", "Time limit (minutes)", "optional")]  # fmt: skip


def _defaults(preset: str) -> dict[str, str]:
    config = RunConfig.for_preset(preset if preset in PRESETS else "qlora", base_model="-")  # type: ignore[arg-type]
    values: dict[str, str] = {}
    for name, *_ in CONFIG_FORM:
        value = getattr(config, name)
        if isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif isinstance(value, list):
            values[name] = ", ".join(value)
        else:
            values[name] = "" if value is None else str(value)
    return {**values, "gpus": "1", "cpus": "4"}


def _form_page(
    request: Request, db: SessionDep, access: ProjectManage, form: dict[str, str],
    errors: dict[str, str], status_code: int = 200,
) -> Response:  # fmt: skip
    project = access.required_project
    ready = [s for s in exports.list_for(db, project) if s.state == "ready"]
    sft_runs = [r for r in service.list_for(db, project)
                if r.method == "sft" and r.state == "succeeded"]  # fmt: skip
    optimizers = LORA_OPTIMIZERS + (GALORE_OPTIMIZERS if form.get("preset") == "full" else ())
    context = {
        "form": form, "errors": errors, "config_form": CONFIG_FORM, "resource_form": RESOURCE_FORM,
        "export_choices": [("", "choose a ready export")] + [
            (str(e.id), f"#{e.id} · {e.format} · {e.created_at:%Y-%m-%d %H:%M}") for e in ready],
        "sft_choices": [(str(r.id), f"run {r.id} · {r.base_model}") for r in sft_runs],
        "backends": BACKENDS,
        "optimizers": [(o, o) for o in optimizers], "presets": list(PRESETS),
        "memory": _memory(db, access, form),
    }  # fmt: skip
    return render(request, "training/new.html", context, status_code=status_code)


def _memory(db: SessionDep, access: Any, fields: dict[str, str]) -> dict[str, Any]:
    try:
        return service.estimate(db, access.required_project, forms.parse(fields))
    except AppError as exc:
        return {"total_gib": None, "answer": f"no estimate yet: {exc.message}", "breakdown_gib": {}}


@router.get("/projects/{slug}/training/new")
def new_run_page(request: Request, slug: str, db: SessionDep, access: ProjectManage) -> Response:
    """The form; `preset` (and the other query parameters) choose what it starts from."""
    query = dict(request.query_params)
    form = {"method": "sft", "preset": "qlora", "backend": "local", "base_model": ""}
    form.update({k: v for k, v in query.items() if k in forms.REQUEST_FIELDS})
    form.update(_defaults(form["preset"]))
    if "export_id" not in form:
        ready = [s for s in exports.list_for(db, access.required_project) if s.state == "ready"]
        if ready:
            form["export_id"] = str(ready[0].id)
    if form.get("export_id", "").isdigit():
        try:
            snapshot = exports.get(db, access.required_project, int(form["export_id"]))
            form["sequence_len"] = str(snapshot.params.get("sequence_len") or 4096)
            form["method"] = "dpo" if snapshot.format == "trl_preference" else form["method"]
        except AppError:
            pass
    return _form_page(request, db, access, form, {})


@router.get("/projects/{slug}/training/estimate")
def estimate_fragment(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    """The memory estimate for the fields as they stand (htmx refreshes it on every change)."""
    memory = _memory(db, access, dict(request.query_params))
    return render(request, "training/_estimate.html", {"memory": memory})


@router.post("/projects/{slug}/training")
async def start_run(request: Request, slug: str, db: SessionDep, access: ProjectManage) -> Response:
    submitted = await request.form()
    form = {k: v for k, v in submitted.items() if isinstance(v, str) and k != "csrf_token"}
    settings = settings_of(request)
    try:
        data = forms.parse(form)
        run = service.create(
            db, access.required_project, access.required_user, data,
            data_dir=settings.data_dir, export_root=settings.export_dir,
        )  # fmt: skip
    except Invalid as exc:
        fields = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
        errors = dict(fields) if fields else {}
        field = (exc.details or {}).get("field") if isinstance(exc.details, dict) else None
        if not fields:
            errors[field or "form"] = exc.message
        return _form_page(request, db, access, form, errors, status_code=422)
    return redirect_after_post(request, f"/projects/{slug}/training/{run.id}")


def _manual_file(run: TrainingRun) -> tuple[str, str] | None:
    """(file name, contents) of the file to submit by hand, for manual runs."""
    if run.state != "manual" or not run.handle:
        return None
    try:
        path = Path(json.loads(run.handle)["file"])
        return path.name, path.read_text(encoding="utf-8")
    except (OSError, ValueError, KeyError):
        return None


@router.get("/projects/{slug}/training")
def runs_page(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    """Every run of the project; `a` and `b` put two runs' curves on one chart."""
    project = access.required_project
    runs = service.list_for(db, project)
    compare = None
    picked = [request.query_params.get(k, "") for k in ("a", "b")]
    if all(p.isdigit() for p in picked):
        pair = [service.get(db, project, int(p)) for p in picked]
        series = [s for run in pair for s in curves.loss_series(
            [m.row for m in service.metrics(db, run)], prefix=f"run {run.id} ")]  # fmt: skip
        compare = {"runs": pair, "chart": curves.chart(series)}
    context = {"runs": runs, "compare": compare, "picked": picked}
    return render(request, "training/list.html", context)


@router.get("/projects/{slug}/training/{run_id}")
def run_page(
    request: Request, slug: str, run_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    run = service.get(db, access.required_project, run_id)
    rows = [m.row for m in service.metrics(db, run)]
    snapshot = (
        exports.get(db, access.required_project, run.snapshot_id) if run.snapshot_id else None
    )
    context = {
        "run": run, "chart": curves.chart(curves.loss_series(rows)), "snapshot": snapshot,
        "manual": _manual_file(run), "steps": len([r for r in rows if r.get("loss") is not None]),
        "evaluations": service.evaluations(db, run),
    }  # fmt: skip
    return render(request, "training/run.html", context, partial="training/_live.html")


@router.post("/projects/{slug}/training/{run_id}/cancel")
def cancel_run(
    request: Request, slug: str, run_id: int, db: SessionDep, access: ProjectManage
) -> Response:
    run = service.request_cancel(db, service.get(db, access.required_project, run_id))
    if run.backend == "local" and run.handle is not None:
        lifecycle.stop(run.handle)
    return redirect_after_post(request, f"/projects/{slug}/training/{run.id}")
