"""Export pages: the new-export form, the list, and a snapshot with its gate checklist,
manifest, downloads and a preview of the first rows exactly as written."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from app.auth.policy import ProjectManage, ProjectRead
from app.exports import service, template_limits
from app.exports.chat_templates import BUILTIN, TemplateError, load_custom
from app.exports.schemas import ExportCreate
from app.exports.template_limits import TemplateLimitError
from app.models import Source
from app.selections import service as selections
from app.web.deps import SessionDep
from app.web.pages import redirect_after_post, settings_of, validate_form
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
MAX_TEMPLATE_BYTES = 2 * 1024 * 1024
DEFAULT_FORM = {"format": "messages", "template": "", "status": "approved", "source": "",
                "validation_fraction": "0.05", "seed": "trellis", "sequence_len": "4096",
                "base_model": "meta-llama/Llama-3.1-8B-Instruct", "container": "jsonl",
                "tags": "", "min_rating": "", "selection_id": "",
                "exclude_flagged": "1", "bos_in_text": ""}  # fmt: skip


def _page(
    request: Request,
    db: SessionDep,
    access: ProjectRead,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    project = access.required_project
    context = {
        "form": form,
        "errors": errors,
        "snapshots": service.list_for(db, project),
        "formats": service.ALL_FORMATS,
        "templates": [
            ("", f"project default ({project.chat_template})"),
            *((n, n) for n in BUILTIN),
        ],
        "sources": [("", "any source"), *((s.value, s.value) for s in Source)],
        "containers": ["jsonl", "parquet", "datasets"],
        "statuses": [("approved", "approved only"), ("all", "every status")],
        "selections": [("", "every matching item"),
                       *((str(s.id), f"{s.name} ({s.item_count:,} items)")
                         for s in selections.list_for(db, project))],
        "bos_choices": [("", "without it: the trainer's tokenizer adds it (TRL, Axolotl)"),
                        ("1", "in the text: for a trainer that does not add it")],
        "flag_choices": [("1", "leave out items with open contamination flags"),
                         ("0", "keep them (the contamination gate then blocks)")],
    }  # fmt: skip
    return render(request, "exports/list.html", context, status_code=status_code)


@router.get("/projects/{slug}/exports")
def exports_page(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    form = dict(DEFAULT_FORM)
    wanted = request.query_params.get("selection_id", "")
    if wanted.isdigit():
        form["selection_id"] = wanted  # e.g. from "Save diverse subset"
    return _page(request, db, access, form, {})


@router.post("/projects/{slug}/exports")
def create_export(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    format: Annotated[str, Form()] = "messages",
    template: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "approved",
    source: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
    min_rating: Annotated[str, Form()] = "",
    validation_fraction: Annotated[str, Form()] = "0",
    seed: Annotated[str, Form()] = "trellis",
    sequence_len: Annotated[str, Form()] = "4096",
    base_model: Annotated[str, Form()] = "",
    container: Annotated[str, Form()] = "jsonl",
    selection_id: Annotated[str, Form()] = "",
    exclude_flagged: Annotated[str, Form()] = "1",
    dry_run: Annotated[bool, Form()] = False,
    bos_in_text: Annotated[str, Form()] = "",
    template_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    form = {"format": format, "template": template, "status": status, "source": source,
            "tags": tags, "min_rating": min_rating, "validation_fraction": validation_fraction,
            "seed": seed, "sequence_len": sequence_len, "base_model": base_model,
            "container": container, "selection_id": selection_id,
            "exclude_flagged": exclude_flagged, "bos_in_text": bos_in_text}  # fmt: skip
    values: dict[str, Any] = {
        **{k: v for k, v in form.items() if v != ""},
        "tags": [t.strip() for t in tags.split(",") if t.strip()],
        "dry_run": dry_run,
        "exclude_flagged": exclude_flagged != "0",
        "bos_in_text": bos_in_text == "1",
    }
    custom, file_error = _custom_template(template_file)
    if custom is not None:
        values["custom_template"] = custom
    data, errors = validate_form(ExportCreate, values)
    if file_error:
        errors["template_file"] = file_error
        data = None
    if data is None:
        return _page(request, db, access, form, errors, status_code=422)
    snapshot = service.create(db, access.required_project, access.required_user, data)
    return redirect_after_post(request, f"/projects/{slug}/exports/{snapshot.id}")


def _custom_template(upload: UploadFile | None) -> tuple[dict[str, str] | None, str | None]:
    """Read an uploaded tokenizer_config.json or .jinja into the export's own parameters."""
    if upload is None or not upload.filename:
        return None, None
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in (".json", ".jinja"):
        return None, "upload a tokenizer_config.json or a .jinja file"
    data = upload.file.read(MAX_TEMPLATE_BYTES + 1)
    if len(data) > MAX_TEMPLATE_BYTES:
        return None, "that file is too large for a chat template"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{Path(upload.filename).stem or 'custom'}{suffix}"
        path.write_bytes(data)
        try:  # in a child process with a deadline: a runaway template cannot hang the server
            template = template_limits.isolated(load_custom, path)
        except (TemplateError, TemplateLimitError) as exc:
            return None, str(exc).replace(str(path), upload.filename)
    return {"name": template.name[:64], "source": template.source,
            "bos_token": template.bos_token, "eos_token": template.eos_token}, None  # fmt: skip


@router.get("/projects/{slug}/exports/{snapshot_id}")
def snapshot_page(
    request: Request, slug: str, snapshot_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    snapshot = service.get(db, access.required_project, snapshot_id)
    context = {
        "snapshot": snapshot,
        "preview": service.preview(snapshot, settings_of(request).export_dir),
    }
    return render(request, "exports/detail.html", context)
