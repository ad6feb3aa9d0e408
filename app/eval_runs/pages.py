"""Evaluation pages: the runs table (scores side by side), the gate-policy and scorer settings,
a new run, a run's gate report and verdict, the side-by-side items and the gap example form.

Reviewers and above read (run pages show eval items' text); engineers configure and start.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.auth.access import Access
from app.auth.policy import ProjectManage, ProjectReview
from app.errors import Invalid
from app.eval_runs import forms, gaps, presenters, repository, results, service
from app.eval_runs.schemas import EvaluationCreate
from app.models import Role
from app.training_runs import service as training
from app.web.deps import SessionDep
from app.web.pages import redirect_after_post
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
MODEL_KINDS = [("prompt", "base model + a prompt (no tune)"),
               ("adapter", "base + a training run's adapter, applied at run time"),
               ("merged", "base + the adapter merged into the weights")]  # fmt: skip
PROMPTS = [("system", "the project's system prompt"), ("plain", "no system prompt"),
           ("fewshot", "system prompt + few-shot examples")]  # fmt: skip
BACKENDS = [("transformers", "transformers: load the model on the worker"),
            ("endpoint", "an OpenAI-compatible endpoint (vLLM, TGI, Ollama, ...)")]  # fmt: skip
ROLES = [("task", "task"), ("format", "format (JSON)"), ("safety", "safety (refusals)"),
         ("judge", "judge (tune vs base)")]  # fmt: skip
SCORERS = ["exact_match", "multiple_choice", "code_exec", "json_format", "refusal", "judge"]
PAGE = 50


def _base(slug: str) -> str:
    return f"/projects/{slug}/evaluation"


def _can_manage(access: Access) -> bool:
    return access.project_role is not None and access.project_role.rank >= Role.engineer.rank


def _submitted(form: Any) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


@router.get("/projects/{slug}/evaluation")
def runs_page(request: Request, slug: str, db: SessionDep, access: ProjectReview) -> Response:
    """Every evaluation run of the project, each run's scores side by side."""
    columns, rows = presenters.runs_table(service.list_runs(db, access.required_project))
    context = {"columns": columns, "rows": rows, "can_manage": _can_manage(access)}
    return render(request, "evaluation/list.html", context)


def _settings_page(
    request: Request, db: SessionDep, access: Access, form: dict[str, str],
    errors: dict[str, str], status_code: int = 200, saved: bool = False,
) -> Response:  # fmt: skip
    sets = repository.frozen_sets(db, access.required_project.id)
    context = {"form": form, "errors": errors, "policy_form": forms.POLICY_FORM,
               "judge_form": forms.JUDGE_FORM, "sets": sets,
               "roles": ROLES, "scorers": SCORERS, "saved": saved}  # fmt: skip
    return render(request, "evaluation/settings.html", context, status_code=status_code)


@router.get("/projects/{slug}/evaluation/settings")
def settings_page(request: Request, slug: str, db: SessionDep, access: ProjectManage) -> Response:
    policy = service.get_policy(db, access.required_project)
    saved = request.query_params.get("saved") == "1"
    return _settings_page(request, db, access, forms.policy_form(policy), {}, saved=saved)


@router.post("/projects/{slug}/evaluation/settings")
async def save_settings(
    request: Request, slug: str, db: SessionDep, access: ProjectManage
) -> Response:
    form = _submitted(await request.form())
    project = access.required_project
    previous = service.get_policy(db, project)
    update, errors = forms.parse_policy(form, repository.frozen_sets(db, project.id), previous)
    if update is None:
        return _settings_page(request, db, access, form, errors, status_code=422)
    service.update_policy(db, project, access.required_user, update)
    return redirect_after_post(request, f"{_base(slug)}/settings?saved=1")


def _new_page(
    request: Request, db: SessionDep, access: Access, form: dict[str, str],
    errors: dict[str, str], status_code: int = 200,
) -> Response:  # fmt: skip
    project = access.required_project
    tuned = [r for r in training.list_for(db, project) if r.state == "succeeded"]
    context = {
        "form": form, "errors": errors, "model_kinds": MODEL_KINDS, "prompts": PROMPTS,
        "backends": BACKENDS, "sets": repository.frozen_sets(db, project.id),
        "training_choices": [("", "none")] + [
            (str(r.id), f"run {r.id} · {r.method} · {r.base_model}") for r in tuned],
    }  # fmt: skip
    return render(request, "evaluation/new.html", context, status_code=status_code)


@router.get("/projects/{slug}/evaluation/new")
def new_run_page(request: Request, slug: str, db: SessionDep, access: ProjectManage) -> Response:
    form = {"model_kind": "prompt", "prompt_variant": "system", "backend": "transformers"}
    form.update(
        {k: v for k, v in request.query_params.items() if k in EvaluationCreate.model_fields}
    )
    if form.get("training_run_id") and "model_kind" not in request.query_params:
        form["model_kind"] = "adapter"
    return _new_page(request, db, access, form, {})


@router.post("/projects/{slug}/evaluation")
async def start_run(request: Request, slug: str, db: SessionDep, access: ProjectManage) -> Response:
    submitted = await request.form()
    form = _submitted(submitted)
    values: dict[str, Any] = {k: v for k, v in form.items() if v.strip()}
    values["eval_set_ids"] = [v for v in submitted.getlist("eval_set_ids") if isinstance(v, str)]
    try:
        data = EvaluationCreate.model_validate(values)
        run = service.create_run(db, access.required_project, access.required_user, data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(name, str(error["msg"]).removeprefix("Value error, "))
        return _new_page(request, db, access, form, errors, status_code=422)
    except Invalid as exc:
        field = (exc.details or {}).get("field") if isinstance(exc.details, dict) else None
        return _new_page(request, db, access, form, {field or "form": exc.message}, 422)
    return redirect_after_post(request, f"{_base(slug)}/{run.id}")


@router.get("/projects/{slug}/evaluation/{run_id}")
def run_page(
    request: Request, slug: str, run_id: int, db: SessionDep, access: ProjectReview
) -> Response:
    """The gate report: every gate pass/fail with its numbers and interval, and the verdict."""
    run = service.get_run(db, access.required_project, run_id)
    context = {"run": run, "model": presenters.model_label(run),
               "verdict": presenters.verdict_label(run.verdict),
               "percent": presenters.percent(run), "can_manage": _can_manage(access)}  # fmt: skip
    return render(request, "evaluation/run.html", context, partial="evaluation/_live.html")


@router.post("/projects/{slug}/evaluation/{run_id}/cancel")
def cancel_run(
    request: Request, slug: str, run_id: int, db: SessionDep, access: ProjectManage
) -> Response:
    service.request_cancel(db, service.get_run(db, access.required_project, run_id))
    return redirect_after_post(request, f"{_base(slug)}/{run_id}")


@router.get("/projects/{slug}/evaluation/{run_id}/items")
def items_page(
    request: Request, slug: str, run_id: int, db: SessionDep, access: ProjectReview
) -> Response:
    """Each eval item side by side; ``regressions=1`` keeps base right, tune wrong."""
    run = service.get_run(db, access.required_project, run_id)
    query = request.query_params
    set_id = query.get("eval_set_id", "")
    offset = query.get("offset", "0")
    regressions = query.get("regressions") == "1"
    found = results.page(
        db, run, eval_set_id=int(set_id) if set_id.isdigit() else None, regressions=regressions,
        offset=int(offset) if offset.isdigit() else 0, limit=PAGE,
    )  # fmt: skip
    names = {int(k): v["slug"] for k, v in run.settings.get("sets", {}).items()}
    models = sorted({m for item in found.items for m in item.outputs}, key=_model_order)
    context = {"run": run, "page": found, "models": models, "set_names": names,
               "eval_set_id": set_id, "regressions": regressions,
               "best": results.best_prompts(run)}  # fmt: skip
    return render(request, "evaluation/items.html", context)


def _model_order(name: str) -> tuple[int, str]:
    return (1 if name == "tune" else 0, name)


def _write_page(
    request: Request, db: SessionDep, access: Access, run_id: int, item_id: int,
    form: dict[str, str], errors: dict[str, str], status_code: int = 200,
) -> Response:  # fmt: skip
    run = service.get_run(db, access.required_project, run_id)
    result = results.one(db, run, item_id)
    context = {"run": run, "result": result, "tag": gaps.gap_tag(run, result), "form": form,
               "errors": errors}  # fmt: skip
    return render(request, "evaluation/write.html", context, status_code=status_code)


@router.get("/projects/{slug}/evaluation/{run_id}/items/{item_id}/write")
def write_page(
    request: Request, slug: str, run_id: int, item_id: int, db: SessionDep,
    access: ProjectReview,
) -> Response:  # fmt: skip
    """A blank form: the new example is written, never copied from the eval item."""
    return _write_page(request, db, access, run_id, item_id, {"prompt": "", "response": ""}, {})


@router.post("/projects/{slug}/evaluation/{run_id}/items/{item_id}/write")
async def write_example(
    request: Request, slug: str, run_id: int, item_id: int, db: SessionDep,
    access: ProjectReview,
) -> Response:  # fmt: skip
    form = _submitted(await request.form())
    project = access.required_project
    run = service.get_run(db, project, run_id)
    try:
        example = gaps.write_example(db, project, access.required_user, run, item_id,
                                     form.get("prompt", ""), form.get("response", ""))  # fmt: skip
    except Invalid as exc:
        field = (exc.details or {}).get("field") if isinstance(exc.details, dict) else None
        errors = {field or "prompt": exc.message}
        return _write_page(request, db, access, run_id, item_id, form, errors, 422)
    return redirect_after_post(request, f"/projects/{slug}/examples/{example.id}")
