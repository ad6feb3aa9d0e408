"""Synthetic generation, the request side: a project's endpoint settings, its template versions,
starting a generation job and reading runs and provenance. The job's body is `worker.py`.
Never commits."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Invalid, NotFound
from app.items import repository as items
from app.jobs import service as jobs
from app.models import (
    Example,
    ItemStatus,
    Job,
    PreferencePair,
    Project,
    SyntheticProvenance,
    SyntheticRun,
    SyntheticSettings,
    SyntheticTemplate,
    User,
)
from app.models.base import utcnow
from app.synthetic import repository
from app.synthetic.candidates import prompt_turns
from app.synthetic.generate import Templates
from app.synthetic.schemas import GenerateIn, SettingsIn, SettingsOut, TemplateIn, TemplateOut
from app.synthetic.templates import BUILTIN, Method, TemplateName, missing_placeholders

GENERATE_JOB = "synthetic_generate"
ENDPOINT_FIELDS = tuple(SettingsIn.model_fields)


# -- settings ----------------------------------------------------------------------------------


def settings_out(row: SyntheticSettings) -> SettingsOut:
    values = {name: getattr(row, name) for name in ENDPOINT_FIELDS}
    key_set = row.api_key_env is None or bool(os.environ.get(row.api_key_env))
    return SettingsOut(**values, key_set=key_set)


def get_settings(db: Session, project: Project) -> SyntheticSettings | None:
    return repository.settings(db, project.id)


def save_settings(
    db: Session, project: Project, user: User | None, data: SettingsIn
) -> SyntheticSettings:
    row = repository.settings(db, project.id)
    if row is None:
        row = SyntheticSettings(project_id=project.id)
        db.add(row)
    for name in ENDPOINT_FIELDS:
        setattr(row, name, getattr(data, name))
    row.updated_at = utcnow()
    row.updated_by_id = user.id if user else None
    db.flush()
    return row


# -- templates ---------------------------------------------------------------------------------


def templates(db: Session, project: Project) -> Templates:
    """Each template's current text and version (0: the built-in one)."""
    current: Templates = {name: (text, 0) for name, text in BUILTIN.items()}
    for row in repository.latest_templates(db, project.id):
        current[TemplateName(row.name)] = (row.text, row.version)
    return current


def template_list(db: Session, project: Project) -> list[TemplateOut]:
    return [
        TemplateOut(name=name, version=version, text=text, builtin=version == 0)
        for name, (text, version) in templates(db, project).items()
    ]


def template_history(db: Session, project: Project, name: TemplateName) -> list[TemplateOut]:
    rows = repository.template_versions(db, project.id, name.value)
    out = [TemplateOut(name=name, version=r.version, text=r.text, builtin=False) for r in rows]
    return [*out, TemplateOut(name=name, version=0, text=BUILTIN[name], builtin=True)]


def save_template(db: Session, project: Project, user: User, data: TemplateIn) -> TemplateOut:
    """A new version of one template (earlier versions stay, for the provenance that names
    them)."""
    missing = missing_placeholders(data.name, data.text)
    if missing:
        raise Invalid(f"field text: the {data.name.value} template needs {', '.join(missing)}")
    version = repository.next_template_version(db, project.id, data.name.value)
    row = SyntheticTemplate(
        project_id=project.id, name=data.name.value, version=version, text=data.text,
        created_by_id=user.id,
    )  # fmt: skip
    db.add(row)
    db.flush()
    return TemplateOut(name=data.name, version=version, text=data.text, builtin=False)


# -- runs --------------------------------------------------------------------------------------


def start(db: Session, project: Project, user: User | None, data: GenerateIn) -> SyntheticRun:
    """Check what the method needs, record the run with the settings it will use, queue it."""
    endpoint = repository.settings(db, project.id)
    if endpoint is None:
        raise Invalid("set the project's generation endpoint first (base URL and model)")
    _check_inputs(db, project, data)
    params: dict[str, Any] = data.model_dump(mode="json")
    params["endpoint"] = {name: getattr(endpoint, name) for name in ENDPOINT_FIELDS}
    run = SyntheticRun(
        project_id=project.id, method=data.method.value, params=params, counts={},
        state="queued", created_by_id=user.id if user else None, created_at=utcnow(),
    )  # fmt: skip
    db.add(run)
    db.flush()
    job = jobs.create(
        db, kind=GENERATE_JOB, params={"run_id": run.id}, project_id=project.id,
        user_id=user.id if user else None,
    )  # fmt: skip
    run.job_id = job.id
    return run


def _check_inputs(db: Session, project: Project, data: GenerateIn) -> None:
    if data.method is Method.self_instruct:
        approved = repository.first_user_turns(db, project.id, ItemStatus.approved)
        if not approved and not data.seed_tasks:
            raise Invalid(
                "field seed_tasks: Self-Instruct needs seed tasks: approve some examples "
                "or give seed_tasks"
            )
    elif data.method is Method.pair_candidates:
        found = (
            repository.first_user_turns(db, project.id, ids=data.example_ids)
            if data.example_ids
            else repository.first_user_turns(db, project.id, ItemStatus.approved)
        )
        missing = sorted(set(data.example_ids) - {i for i, _ in found})
        if missing:
            raise Invalid(f"field example_ids: {missing[:10]} are not examples of this project")
        promptless = [i for i, m in found if prompt_turns(m) is None]
        if promptless and data.example_ids:
            raise Invalid(f"field example_ids: {promptless[:10]} have no user turn to answer")
        if len(promptless) == len(found):
            raise Invalid(
                "field example_ids: choose examples whose prompts to sample (no approved "
                "example has a user turn)"
            )
    elif data.example_ids:
        found = (
            repository.first_user_turns(db, project.id, ids=data.example_ids)
            if data.method is Method.evol_instruct
            else repository.drafts_needing_response(db, project.id, data.example_ids)
        )
        missing = sorted(set(data.example_ids) - {i for i, _ in found})
        if missing:
            what = (
                "examples of this project"
                if data.method is Method.evol_instruct
                else ("drafts of this project that need a response")
            )
            raise Invalid(f"field example_ids: {missing[:10]} are not {what}")
    elif data.method is Method.evol_instruct:
        if not repository.first_user_turns(db, project.id, ItemStatus.approved):
            raise Invalid("field example_ids: choose examples to evolve (none is approved)")
    elif not repository.drafts_needing_response(db, project.id):
        raise Invalid("no draft of this project needs a response")


def get_run(db: Session, project: Project, run_id: int) -> SyntheticRun:
    run = repository.get_run(db, project.id, run_id)
    if run is None:
        raise NotFound(f"generation run {run_id} not found")
    return run


def list_runs(db: Session, project: Project) -> list[SyntheticRun]:
    return repository.list_runs(db, project.id)


def cancel(db: Session, project: Project, run_id: int, user: User) -> SyntheticRun:
    run = get_run(db, project, run_id)
    job = db.get(Job, run.job_id) if run.job_id is not None else None
    if job is None:
        raise Invalid(f"generation run {run_id} has no job to cancel")
    jobs.cancel(db, job, user)
    return run


def mark_ended(db: Session, run_id: int, state: str, error: str | None) -> None:
    """The job failed or was cancelled: nothing was written; say so on the run."""
    run = db.get(SyntheticRun, run_id)
    if run is not None and run.state not in ("succeeded",):
        run.state = state
        run.error = error
        run.finished_at = utcnow()


def provenance(db: Session, project: Project, example_id: int) -> SyntheticProvenance:
    items.get_in_project(db, Example, project, example_id)
    row = repository.provenance_of(db, example_id)
    if row is None:
        raise NotFound(f"example {example_id} was not generated here")
    return row


def pair_provenance(db: Session, project: Project, pair_id: int) -> SyntheticProvenance:
    items.get_in_project(db, PreferencePair, project, pair_id)
    row = repository.provenance_of_pair(db, pair_id)
    if row is None:
        raise NotFound(f"pair {pair_id} was not generated here")
    return row
