"""The Generate page (engineers): the project's endpoint, the prompt templates and their
versions, a form that starts a generation, and the runs with what each filter dropped."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.auth.access import Access
from app.auth.policy import ProjectManage
from app.errors import Invalid
from app.synthetic import service
from app.synthetic.schemas import GenerateIn, SettingsIn, TemplateIn
from app.synthetic.templates import PLACEHOLDERS, Method, TemplateName
from app.web.cookies import CSRF_FIELD
from app.web.deps import SessionDep
from app.web.pages import redirect_after_post, validate_form
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
CSRF_KEYS = (CSRF_FIELD,)
COUNT_LABELS = {
    "generated": "generated",
    "kept": "kept",
    "dropped_rouge": "ROUGE-L ≥ 0.7 with the pool",
    "dropped_near_duplicate": "near-duplicate",
    "dropped_duplicate": "exact duplicate",
    "dropped_contamination": "contamination",
    "dropped_too_short": "too short",
    "dropped_too_long": "too long",
    "dropped_unsupported": "needs images/files",
    "dropped_bad_start": "bad start",
    "dropped_no_gain": "evolution: no gain",
    "dropped_copied_prompt": "evolution: copied the prompt",
    "dropped_model_declined": "evolution: model declined",
    "dropped_empty_response": "empty response",
    "dropped_identical_samples": "pair: identical samples",
    "unanswered": "unanswered (budget or failed requests)",
    "dropped_invalid": "invalid",
    "failed_requests": "failed requests",
    "requests": "requests",
    "retries": "retries",
}


def _base(slug: str) -> str:
    return f"/projects/{slug}/generate"


def _page(
    request: Request,
    db: Session,
    access: Access,
    *,
    forms: dict[str, dict[str, Any]] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    project = access.required_project
    row = service.get_settings(db, project)
    forms = dict(forms or {})
    if "settings" not in forms:
        defaults = SettingsIn.model_fields
        forms["settings"] = (
            service.settings_out(row).model_dump()
            if row is not None
            else {k: f.default for k, f in defaults.items() if f.default is not None}
        )
    forms.setdefault("run", {"method": "self_instruct", "count": 20, "status": "draft",
                             "with_responses": True, "temperature_a": 0.3,
                             "temperature_b": 1.0})  # fmt: skip
    context: dict[str, Any] = {
        "base": _base(project.slug),
        "endpoint": service.settings_out(row) if row is not None else None,
        "templates": service.template_list(db, project),
        "placeholders": {k.value: ", ".join(v) for k, v in PLACEHOLDERS.items()},
        "runs": service.list_runs(db, project),
        "count_labels": COUNT_LABELS,
        "methods": [m.value for m in Method],
        "template_names": [t.value for t in TemplateName],
        "forms": forms,
        "errors": errors or {},
    }
    return render(request, "synthetic/generate.html", context, status_code=status_code)


def _values(form: Any) -> dict[str, Any]:
    return {k: v for k, v in form.items() if k not in CSRF_KEYS and isinstance(v, str)}


@router.get("/projects/{slug}/generate")
def generate_page(request: Request, slug: str, db: SessionDep, access: ProjectManage) -> Response:
    return _page(request, db, access)


@router.post("/projects/{slug}/generate/settings")
async def save_settings(
    request: Request, slug: str, db: SessionDep, access: ProjectManage
) -> Response:
    values = _values(await request.form())
    data, errors = validate_form(SettingsIn, values)
    if data is None:
        return _page(request, db, access, forms={"settings": values},
                     errors={"settings": errors}, status_code=422)  # fmt: skip
    service.save_settings(db, access.required_project, access.required_user, data)
    return redirect_after_post(request, _base(slug))


@router.post("/projects/{slug}/generate/templates")
async def save_template(
    request: Request, slug: str, db: SessionDep, access: ProjectManage
) -> Response:
    values = _values(await request.form())
    data, errors = validate_form(TemplateIn, values)
    if data is not None:
        try:
            service.save_template(db, access.required_project, access.required_user, data)
        except Invalid as exc:
            errors = {"text": exc.message.removeprefix("field text: ")}
    if errors:
        return _page(request, db, access, forms={"template": values},
                     errors={"template": errors}, status_code=422)  # fmt: skip
    return redirect_after_post(request, _base(slug))


@router.post("/projects/{slug}/generate/runs")
async def start_run(request: Request, slug: str, db: SessionDep, access: ProjectManage) -> Response:
    form = await request.form()
    values = _values(form)
    parsed: dict[str, Any] = {k: v for k, v in values.items() if v.strip()}
    parsed["with_responses"] = "with_responses" in form
    parsed["seed_tasks"] = [t for t in values.get("seed_tasks", "").splitlines() if t.strip()]
    ids = values.get("example_ids", "").replace(",", " ").split()
    errors: dict[str, str] = {}
    if not all(i.isdigit() for i in ids):
        errors["example_ids"] = "example ids are numbers, separated by commas or spaces"
    parsed["example_ids"] = [int(i) for i in ids if i.isdigit()]
    data, found = validate_form(GenerateIn, parsed)
    errors.update(found)
    if data is not None and not errors:
        try:
            service.start(db, access.required_project, access.required_user, data)
        except Invalid as exc:
            field, _, message = exc.message.partition(": ")
            key = field.removeprefix("field ") if field.startswith("field ") else "method"
            errors[key] = message if field.startswith("field ") else exc.message
    if errors:
        values["with_responses"] = parsed["with_responses"]
        return _page(request, db, access, forms={"run": values},
                     errors={"run": errors}, status_code=422)  # fmt: skip
    return redirect_after_post(request, _base(slug))
