"""Synthetic generation over JSON (bearer tokens): the endpoint settings, template versions,
runs (start, list, read, cancel) and the provenance of a generated example or pair candidate."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.policy import ProjectManage, ProjectRead
from app.errors import NotFound
from app.synthetic import service
from app.synthetic.schemas import (
    GenerateIn,
    ProvenanceOut,
    RunOut,
    SettingsIn,
    SettingsOut,
    TemplateIn,
    TemplateOut,
)
from app.synthetic.templates import TemplateName
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}/synthetic", tags=["synthetic"])


@router.get("/settings")
def get_settings(slug: str, db: SessionDep, access: ProjectManage) -> SettingsOut:
    """The endpoint; the key itself is never stored nor shown, only its variable's name and
    whether that variable is set here."""
    row = service.get_settings(db, access.required_project)
    if row is None:
        raise NotFound("no generation endpoint is set for this project")
    return service.settings_out(row)


@router.put("/settings")
def put_settings(slug: str, data: SettingsIn, db: SessionDep, access: ProjectManage) -> SettingsOut:
    row = service.save_settings(db, access.required_project, access.required_user, data)
    return service.settings_out(row)


@router.get("/templates")
def list_templates(slug: str, db: SessionDep, access: ProjectManage) -> list[TemplateOut]:
    """The current version of each prompt template (version 0: built in)."""
    return service.template_list(db, access.required_project)


@router.get("/templates/{name}")
def template_history(
    slug: str, name: TemplateName, db: SessionDep, access: ProjectManage
) -> list[TemplateOut]:
    return service.template_history(db, access.required_project, name)


@router.post("/templates", status_code=201)
def save_template(
    slug: str, data: TemplateIn, db: SessionDep, access: ProjectManage
) -> TemplateOut:
    """A new version of a template; runs record the version they used."""
    return service.save_template(db, access.required_project, access.required_user, data)


@router.post("/runs", status_code=202)
def start_run(slug: str, data: GenerateIn, db: SessionDep, access: ProjectManage) -> RunOut:
    """Queue a generation; poll GET .../runs/{id} (or the job) for progress and counts."""
    run = service.start(db, access.required_project, access.required_user, data)
    return RunOut.model_validate(run)


@router.get("/runs")
def list_runs(slug: str, db: SessionDep, access: ProjectRead) -> list[RunOut]:
    return [RunOut.model_validate(r) for r in service.list_runs(db, access.required_project)]


@router.get("/runs/{run_id}")
def get_run(slug: str, run_id: int, db: SessionDep, access: ProjectRead) -> RunOut:
    return RunOut.model_validate(service.get_run(db, access.required_project, run_id))


@router.post("/runs/{run_id}/cancel", status_code=202)
def cancel_run(slug: str, run_id: int, db: SessionDep, access: ProjectManage) -> RunOut:
    run = service.cancel(db, access.required_project, run_id, access.required_user)
    return RunOut.model_validate(run)


@router.get("/provenance/{example_id}")
def provenance(slug: str, example_id: int, db: SessionDep, access: ProjectRead) -> ProvenanceOut:
    """Where a generated example came from: method, model, template versions, seeds, parent."""
    row = service.provenance(db, access.required_project, example_id)
    return ProvenanceOut.model_validate(row)


@router.get("/provenance/pairs/{pair_id}")
def pair_provenance(slug: str, pair_id: int, db: SessionDep, access: ProjectRead) -> ProvenanceOut:
    """Where a pair candidate came from: model, template version, the parent example whose
    prompt it answers, and which temperature gave the answer stored as chosen and as rejected
    (the sides were drawn at random: no one has picked yet)."""
    row = service.pair_provenance(db, access.required_project, pair_id)
    return ProvenanceOut.model_validate(row)
