"""Every write route, called by every project role with every field of its schema.

The walk reads the write routes from `app.routes` and their bodies from the OpenAPI schema, so a
new route or a new field is covered (and a new field must be audited below before it passes).
After each call it checks the workflow rules on the project's items:

- status changes only through labeling and review routes (never an item edit), approval only
  through review, by a reviewer or above who neither edited nor labeled the item;
- `source` and the creator never change; the item rating is overridden by reviewers and above;
- no call answers 5xx.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import Example, Label, PreferencePair, Project, Revision, Role, User
from tests.factories import add_member, bearer, make_user

# Every field of every write schema, audited: a field that can move an item through its workflow
# (status, version, creator, source, ratings) is listed with why it is safe. A new field fails
# `test_every_write_field_is_audited` until it is added here.
AUDITED: dict[str, set[str]] = {
    "DraftIn": {"version", "draft", "rating", "tags", "note", "preference"},  # own label only
    "SubmitIn": {"version", "messages", "rating", "tags", "note", "preference"},  # own label
    "DiscardIn": {"note", "group"},  # labeling discard (own label) / diversity (engineers)
    "UserCreate": {"email", "role", "password"},  # admins only
    "UserUpdate": {"role", "active"},  # admins only
    "TokenCreate": {"name"},
    "ProjectCreate": {
        "slug",
        "name",
        "description",
        "guidelines",
        "system_prompt",
        "chat_template",
        "min_submissions",
        "approvals_required",
        "annotators_edit_prompts",
        "label_tags",
    },
    "ProjectUpdate": {
        "name",
        "description",
        "guidelines",
        "system_prompt",
        "chat_template",
        "min_submissions",
        "approvals_required",
        "annotators_edit_prompts",
        "label_tags",
    },  # engineers of the project
    "MemberSet": {"email", "role"},  # never above the caller's own role
    "ExampleUpdate": {"version", "messages", "tags", "rating", "split"},  # no status
    "PairUpdate": {"version", "prompt", "chosen", "rejected", "tags", "rating"},  # no status
    "PairFromExample": {"alternative", "better"},
    "RevertIn": {"revision_id", "version", "before"},  # reviewers; restores a recorded state
    "SwapIn": {"version"},
    "ExportCreate": {
        "format",
        "template",
        "custom_template",
        "status",
        "tags",
        "source",
        "min_rating",
        "selection_id",
        "seed",
        "validation_fraction",
        "exclude_flagged",
        "dry_run",
        "base_model",
        "container",
        "sequence_len",
        "bos_in_text",
    },  # status/source here filter what is read; nothing is written to items
    # Training runs (engineers and admins): read an export snapshot, write nothing to items.
    "TrainingCreate": {
        "export_id",
        "method",
        "base_model",
        "preset",
        "config",
        "backend",
        "resources",
        "init_run_id",
    },
    "EvalSetUpdate": {"name", "text_fields"},
    # Evaluation (engineers): thresholds and runs; nothing is written to items.
    "GatePolicyUpdate": {
        "default_min_score",
        "default_min_gain",
        "min_format_compliance",
        "min_refusal_rate",
        "max_capability_drop",
        "capability_task_dir",
        "capability_tasks",
        "few_shot",
        "judge_url",
        "judge_model",
        "judge_api_key_env",  # the variable's name only: a key is never stored
        "min_judge_win_rate",
        "sets",
    },
    "EvaluationCreate": {
        "model_kind",
        "base_model",
        "training_run_id",
        "prompt_variant",
        "eval_set_ids",
        "backend",
        "endpoint_url",
        "endpoint_model",
        "endpoint_base_model",
        "api_key_env",  # the variable's name only: a key is never stored
    },
    "GapExampleIn": {"prompt", "response"},  # reviewers: a NEW draft example, always draft
    "RunCreate": {"eval_set_ids", "full", "tau"},  # contamination / diversity runs
    "DismissIn": {"reason"},
    "DropIn": {"reason"},  # engineers: rejects a contaminated item, with a revision
    "SelectionCreate": {"name", "description", "examples", "pairs"},
    "SubsetCreate": {"name", "tau", "target", "then_by"},
    "TagIn": {"tag", "examples", "pairs"},
    "BulkIn": {"action", "filter", "expected_count", "comment", "dry_run"},  # reviewers
    "DecisionIn": {"decision", "comment", "version"},  # reviewers, own-work rule
    # Synthetic generation (engineers): the endpoint (a key's variable NAME, never a key),
    # template versions, and runs whose items enter as draft/submitted only, never approved.
    "SettingsIn": {
        "base_url",
        "model",
        "api_key_env",
        "temperature",
        "max_tokens",
        "concurrency",
        "max_requests",
        "timeout_s",
    },
    "TemplateIn": {"name", "text"},
    "GenerateIn": {
        "method",
        "count",
        "status",
        "seed_tasks",
        "example_ids",
        "with_responses",
        "per_request",
        "breadth_share",
        "seed",
        "temperature_a",  # pair candidates' two sampling temperatures: no item workflow field
        "temperature_b",
    },
    # multipart forms
    "imports": {"file", "format", "source", "generator", "skip_invalid", "status"},  # engineers
    "eval-sets": {"file", "name", "fields", "header"},
    # Production feedback (engineers): rated responses are not items; pairs made from them are
    # always created submitted (no field sets a status, source or creator).
    "feedback": {
        "file",
        "skip_invalid",
        "prompt_field",
        "messages_field",
        "response_field",
        "rating_field",
        "responses_field",
        "choice_field",
        "id_field",
    },
    "FieldNames": {"prompt", "messages", "response", "rating", "responses", "choice", "id"},
    "PairOptions": {"mode", "max_per_prompt", "with_context"},
}

# Routes that may change an item's status, and the ones that may approve.
STATUS_ROUTES = {
    ("POST", "/api/projects/{slug}/labels/{kind}/{item_id}/submit"),
    ("POST", "/api/projects/{slug}/labels/{kind}/{item_id}/discard"),
    ("POST", "/api/projects/{slug}/examples/{example_id}/revert"),
    ("POST", "/api/projects/{slug}/pairs/{pair_id}/revert"),
    ("POST", "/api/projects/{slug}/review/bulk"),
    ("POST", "/api/projects/{slug}/review/{kind}/{item_id}"),
    ("POST", "/api/projects/{slug}/diversity/duplicates/discard"),
    ("POST", "/api/projects/{slug}/contamination/flags/{flag_id}/drop"),
}
APPROVING_ROUTES = {
    ("POST", "/api/projects/{slug}/review/bulk"),
    ("POST", "/api/projects/{slug}/review/{kind}/{item_id}"),
}
RATING_ROUTES = {  # besides edits by reviewers: the median of submitted labels, and reverts
    ("POST", "/api/projects/{slug}/labels/{kind}/{item_id}/submit"),
    ("POST", "/api/projects/{slug}/examples/{example_id}/revert"),
    ("POST", "/api/projects/{slug}/pairs/{pair_id}/revert"),
}
ITEM_EDITS = {
    ("PATCH", "/api/projects/{slug}/examples/{example_id}"),
    ("PATCH", "/api/projects/{slug}/pairs/{pair_id}"),
}
TURNS = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]
SAMPLES: dict[str, Any] = {
    "status": "approved", "source": "human", "rating": 5, "role": "admin", "decision": "approve",
    "action": "approve", "messages": TURNS, "prompt": [TURNS[0]],
    "chosen": [{"role": "assistant", "content": "better"}],
    "rejected": [{"role": "assistant", "content": "worse"}], "tags": ["audit"],
    "split": "test", "active": True, "password": "a long enough password", "better": "alternative",
    "alternative": "another answer", "format": "messages", "preference": "chosen",
}  # fmt: skip


def _write_routes(app: FastAPI) -> list[tuple[str, str]]:
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, APIRoute) and str(ctx.path).startswith("/api/"):
            out += [(m, str(ctx.path)) for m in sorted(route.methods) if m != "GET"]
    return out


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _value(spec: dict[str, Any], name: str, schema: dict[str, Any]) -> Any:
    if name in SAMPLES:
        return SAMPLES[name]
    schema = _resolve(spec, schema)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _value(spec, name, options[0]) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    return {}


def _body(spec: dict[str, Any], method: str, path: str) -> tuple[str, str, dict[str, Any]]:
    """(content type, schema name, every field with a value) for a route's request body."""
    operation = spec["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    if not content:
        return "", "", {}
    ctype, media = next(iter(content.items()))
    ref = media["schema"]
    if "anyOf" in ref:  # an optional body
        ref = next(s for s in ref["anyOf"] if "$ref" in s)
    schema = _resolve(spec, ref)
    name = ref["$ref"].rsplit("/", 1)[1].rsplit("__", 1)[-1]  # app__x__schemas__Name: Name
    if ctype != "application/json":
        name = path.split("/")[4]  # the multipart forms, by their collection
    fields = {k: _value(spec, k, v) for k, v in schema.get("properties", {}).items()}
    return ctype, name, fields


@pytest.fixture
def items(db: Session, project: Project, tmp_path: Path) -> tuple[Example, PreferencePair]:
    """Two submitted examples and a submitted pair, put in through the real import."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": q},
                {"role": "assistant", "content": "an answer"},
            ]
        }
        for q in ("first question", "second question")
    ] + [
        {"prompt": "which is better?", "chosen": "good answer", "rejected": "bad answer"},
    ]
    for n, row in enumerate(rows):
        path = tmp_path / f"rows-{n}.jsonl"
        path.write_text(json.dumps(row) + "\n", encoding="utf-8")
        import_file(db, project_id=project.id, path=path, options=ImportOptions(), user_id=None)
    db.commit()
    example = db.scalars(select(Example).where(Example.project_id == project.id)).first()
    found = db.scalars(select(PreferencePair).where(PreferencePair.project_id == project.id))
    assert example is not None
    return example, found.one()


def test_every_write_field_is_audited(app: FastAPI) -> None:
    spec = app.openapi()
    unaudited = []
    seen: dict[str, set[str]] = {}
    for method, path in _write_routes(app):
        _, name, fields = _body(spec, method, path)
        if name:
            seen.setdefault(name, set()).update(fields)
            new = sorted(set(fields) - AUDITED.get(name, set()))
            if new:
                unaudited.append(f"{method} {path}: {name} {new}")
    assert not unaudited, f"write fields nobody has audited: {unaudited}"
    assert seen == AUDITED, "AUDITED lists schemas or fields that no longer exist"


def _state(db: Session, project: Project) -> dict[tuple[str, int], tuple[Any, ...]]:
    db.expire_all()
    state: dict[tuple[str, int], tuple[Any, ...]] = {}
    for model, kind in ((Example, "example"), (PreferencePair, "pair")):
        for item in db.scalars(select(model).where(model.project_id == project.id)):
            state[(kind, item.id)] = (
                item.status.value, item.source.value, item.created_by_id, item.rating
            )  # fmt: skip
    return state


def _did_own_work(db: Session, user: User, kind: str, item_id: int) -> bool:
    edited = db.scalar(
        select(Revision.id).where(
            Revision.item_kind == kind, Revision.item_id == item_id, Revision.user_id == user.id,
            Revision.action == "edit",
        )
    )  # fmt: skip
    labeled = db.scalar(
        select(Label.id).where(
            Label.item_kind == kind, Label.item_id == item_id, Label.user_id == user.id
        )
    )
    return edited is not None or labeled is not None


@pytest.mark.parametrize("role", [Role.annotator, Role.reviewer, Role.engineer, Role.admin])
def test_every_role_sends_every_field_to_every_write_route(
    client: TestClient,
    db: Session,
    app: FastAPI,
    project: Project,
    items: tuple[Example, PreferencePair],
    role: Role,
) -> None:
    example, the_pair = items
    caller = make_user(db, f"caller-{role.value}@example.com", role)
    if role is not Role.admin:
        add_member(db, project, caller, role)
    other = make_user(db, "other@example.com", Role.annotator)
    headers = bearer(client, db, caller)
    spec = app.openapi()
    ids = {"example_id": example.id, "pair_id": the_pair.id, "item_id": example.id,
           "user_id": other.id}  # fmt: skip
    failures: list[str] = []
    for method, path in _write_routes(app):
        if path in ("/api/tokens/{token_id}",):
            continue  # revoking the caller's own token would end the walk
        operation = spec["paths"][path][method.lower()]
        url = path
        for param in re.findall(r"{(\w+)}", path):
            schema = next(p["schema"] for p in operation["parameters"] if p["name"] == param)
            value = "demo" if param == "slug" else ids.get(param, 1)
            url = url.replace(f"{{{param}}}", str(schema["enum"][0] if "enum" in schema else value))
        ctype, name, fields = _body(spec, method, path)
        if "version" in fields:  # the version the body claims to have seen: the current one
            target = the_pair if "/pairs/" in path else example
            db.refresh(target)
            fields["version"] = target.version
        if name == "MemberSet":
            fields["email"] = other.email
        before = _state(db, project)
        if (method, path) in ITEM_EDITS:
            # `status` is not an edit field: refused, never silently dropped or applied.
            sneaky = client.request(method, url, json={**fields, "status": "approved"},
                                    headers=headers)  # fmt: skip
            refused = sneaky.status_code == 422 and "status" in sneaky.text
            assert refused or sneaky.status_code == 403, (role, path, sneaky.text)
        if ctype == "multipart/form-data":
            files = {"file": ("rows.jsonl", io.BytesIO(b'{"prompt": "p", "completion": "r"}\n'))}
            plain = {k: v for k, v in fields.items() if k != "file" and not isinstance(v, list)}
            form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in plain.items()}
            response = client.request(method, url, data=form, files=files, headers=headers)
        elif ctype:
            response = client.request(method, url, json=fields, headers=headers)
        else:
            response = client.request(method, url, headers=headers)
        where = f"{role.value} {method} {path} -> {response.status_code}"
        if response.status_code >= 500:
            failures.append(f"{where}: server error {response.text[:200]}")
        if (method, path) in ITEM_EDITS:
            allowed = role.rank >= Role.reviewer.rank and (
                "split" not in fields or role.rank >= Role.engineer.rank
            )
            assert (response.status_code == 200) is allowed, f"{where}: {response.text[:200]}"
        after = _state(db, project)
        for key, now in after.items():
            was = before.get(key)
            if was is None or was == now:
                continue
            status_before, source_before, creator_before, rating_before = was
            status, source, creator, rating = now
            if status != status_before and (method, path) not in STATUS_ROUTES:
                failures.append(f"{where}: changed the status of {key} to {status}")
            if status == "approved" and status_before != "approved":
                if (method, path) not in APPROVING_ROUTES or role.rank < Role.reviewer.rank:
                    failures.append(f"{where}: approved {key}")
                elif _did_own_work(db, caller, *key):
                    failures.append(f"{where}: approved {key}, which the caller worked on")
            if (source, creator) != (source_before, creator_before):
                failures.append(f"{where}: changed the source or creator of {key}")
            rating_ok = (method, path) in RATING_ROUTES or (
                (method, path) in ITEM_EDITS and role.rank >= Role.reviewer.rank
            )
            if rating != rating_before and not rating_ok:
                failures.append(f"{where}: changed the rating of {key}")
    assert not failures, "\n".join(failures)
