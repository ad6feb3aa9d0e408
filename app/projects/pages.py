"""Project pages: the list, the create form, the overview and its members, and the settings
form (name, texts, chat template and the labeling and review rules)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.auth.access import Access
from app.auth.policy import EngineerAccess, ProjectManage, ProjectRead, SignedIn
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.models import Project, Role
from app.projects import members, service
from app.projects.schemas import CHAT_TEMPLATES, MemberSet, ProjectCreate, ProjectUpdate
from app.web.deps import SessionDep
from app.web.pages import redirect_after_post, validate_form
from app.web.templating import is_htmx, render

router = APIRouter(tags=["pages"], include_in_schema=False)
RECENT_JOBS = 10


@router.get("/projects")
def projects(request: Request, db: SessionDep, access: SignedIn) -> Response:
    user = access.required_user
    context = {
        "projects": service.list_for(db, user),
        "can_create": user.role.rank >= Role.engineer.rank,
    }
    return render(request, "projects/list.html", context)


def _new_project_page(
    request: Request, form: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Response:
    context = {"form": form, "errors": errors, "chat_templates": CHAT_TEMPLATES}
    return render(
        request,
        "projects/new.html",
        context,
        partial="projects/_form.html",
        status_code=status_code,
    )


@router.get("/projects/new")
def new_project(request: Request, access: EngineerAccess) -> Response:
    return _new_project_page(request, {"chat_template": CHAT_TEMPLATES[0]}, {})


@router.post("/projects")
def create_project(
    request: Request,
    db: SessionDep,
    access: EngineerAccess,
    slug: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    guidelines: Annotated[str, Form()] = "",
    system_prompt: Annotated[str, Form()] = "",
    chat_template: Annotated[str, Form()] = "chatml",
) -> Response:
    form = {
        "slug": slug.strip(),
        "name": name.strip(),
        "description": description,
        "guidelines": guidelines,
        "system_prompt": system_prompt,
        "chat_template": chat_template,
    }
    data, errors = validate_form(ProjectCreate, form)
    if data is not None:
        try:
            project = service.create(db, access.required_user, data)
        except Conflict as exc:
            errors = {"slug": exc.message}
        except Invalid as exc:
            errors = {"chat_template": exc.message}
        else:
            return redirect_after_post(request, f"/projects/{project.slug}")
    return _new_project_page(request, form, errors, 422)


def _can_manage(access: Access) -> bool:
    return access.project_role is not None and access.project_role.rank >= Role.engineer.rank


def _overview(
    request: Request, db: SessionDep, access: Access, status_code: int = 200, **context: Any
) -> Response:
    project = access.required_project
    context.setdefault("member_errors", {})
    context.setdefault("member_form", {"role": Role.annotator.value})
    page = {
        "stats": service.stats(db, project),
        "members": service.members(db, project),
        "jobs": service.recent_jobs(db, project.id, RECENT_JOBS),
        "can_manage": _can_manage(access),
        "roles": [r for r in Role if r is not Role.admin],
        **context,
    }
    return render(
        request,
        "projects/overview.html",
        page,
        partial="projects/_members.html",
        status_code=status_code,
    )


@router.get("/projects/{slug}")
def project_overview(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    return _overview(request, db, access)


@router.post("/projects/{slug}/members")
def set_member(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    form = {"email": email.strip(), "role": role}
    data, errors = validate_form(MemberSet, form)
    if data is not None:
        actor = access.project_role or Role.annotator
        try:
            members.set_member(db, access.required_project, actor, data.email, data.role)
        except NotFound as exc:
            errors = {"email": exc.message}
        except (Forbidden, Invalid) as exc:
            errors = {"role": exc.message}
        else:
            return _members_changed(request, db, access, slug)
    return _overview(request, db, access, 422, member_errors=errors, member_form=form)


def _members_changed(request: Request, db: SessionDep, access: Access, slug: str) -> Response:
    """htmx swaps in the refreshed members card (an HX-Redirect to the same page plus
    #members only moved the hash: the list kept showing the old members); a plain form
    gets the usual 303."""
    if is_htmx(request):
        return _overview(request, db, access)
    return redirect_after_post(request, f"/projects/{slug}#members")


@router.post("/projects/{slug}/members/{user_id}/remove")
def remove_member(
    request: Request, slug: str, user_id: int, db: SessionDep, access: ProjectManage
) -> Response:
    actor = access.project_role or Role.annotator
    try:
        members.remove_member(db, access.required_project, actor, user_id)
    except (Forbidden, NotFound) as exc:
        return _overview(request, db, access, exc.status_code, member_errors={"email": exc.message})
    return _members_changed(request, db, access, slug)


# -- settings ---------------------------------------------------------------------------------


def split_tags(text: str) -> list[str]:
    """Tags typed one per line or separated by commas (blank entries dropped)."""
    return [tag for line in text.splitlines() for tag in line.split(",") if tag.strip()]


def _settings_form(project: Project) -> dict[str, Any]:
    return {
        "name": project.name,
        "description": project.description,
        "guidelines": project.guidelines,
        "system_prompt": project.system_prompt,
        "chat_template": project.chat_template,
        "min_submissions": str(project.min_submissions),
        "approvals_required": str(project.approvals_required),
        "annotators_edit_prompts": project.annotators_edit_prompts,
        "label_tags": "\n".join(project.label_tags),
    }


def _settings_page(
    request: Request,
    form: dict[str, Any],
    errors: dict[str, str],
    *,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    context = {"form": form, "errors": errors, "chat_templates": CHAT_TEMPLATES, "saved": saved}
    return render(
        request,
        "projects/settings.html",
        context,
        partial="projects/_settings_form.html",
        status_code=status_code,
    )


@router.get("/projects/{slug}/settings")
def project_settings(request: Request, slug: str, access: ProjectManage) -> Response:
    saved = request.query_params.get("saved") == "1"
    return _settings_page(request, _settings_form(access.required_project), {}, saved=saved)


@router.post("/projects/{slug}/settings")
def update_settings(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    guidelines: Annotated[str, Form()] = "",
    system_prompt: Annotated[str, Form()] = "",
    chat_template: Annotated[str, Form()] = "",
    min_submissions: Annotated[str, Form()] = "",
    approvals_required: Annotated[str, Form()] = "",
    annotators_edit_prompts: Annotated[str | None, Form()] = None,
    label_tags: Annotated[str, Form()] = "",
) -> Response:
    form: dict[str, Any] = {
        "name": name.strip(),
        "description": description,
        "guidelines": guidelines,
        "system_prompt": system_prompt,
        "chat_template": chat_template,
        "min_submissions": min_submissions.strip(),
        "approvals_required": approvals_required.strip(),
        "annotators_edit_prompts": annotators_edit_prompts is not None,
        "label_tags": label_tags,
    }
    data, errors = validate_form(ProjectUpdate, {**form, "label_tags": split_tags(label_tags)})
    if data is not None:
        try:
            service.update(db, access.required_project, data)
        except Invalid as exc:
            errors = {"chat_template": exc.message}
        else:
            return redirect_after_post(request, f"/projects/{slug}/settings?saved=1")
    return _settings_page(request, form, errors, status_code=422)
