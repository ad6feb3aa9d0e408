"""Reading and editing SFT examples. Every change is versioned and recorded as a revision."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid
from app.examples.schemas import ExampleUpdate
from app.formats import RecordInvalid, example_hash, parse_record
from app.items import changes, repository
from app.items.kinds import content_differs, snapshot
from app.items.listing import list_items
from app.items.schemas import ListFilter
from app.models import Example, ItemKind, ItemStatus, Project, Revision, Source, User

KIND = ItemKind.example
# What a revert restores: the conversation, tags, rating and status (not the export split).
RESTORED = ("messages", "tags", "rating", "status")


def list_examples(
    db: Session, project: Project, f: ListFilter
) -> tuple[list[Example], int, str | None]:
    return list_items(db, Example, project.id, f)


def response_missing(messages: list[dict[str, Any]]) -> bool:
    """True when the conversation has no final assistant answer: the last turn is not the
    assistant's, or it is blank and calls no tool (pure; the rule the import applies)."""
    if not messages or messages[-1].get("role") != "assistant":
        return True
    last = messages[-1]
    content = last.get("content")
    if last.get("tool_calls"):
        return False
    if isinstance(content, str):
        return not content.strip()
    return not content


def require_response(example: Example, action: str) -> None:
    """An SFT example is never submitted or approved without its answer: 400 naming the fix."""
    if response_missing(example.messages):
        raise Invalid(
            f"example {example.id} needs a response: write the final assistant turn "
            f"(not empty) before you {action} it"
        )


def get(db: Session, project: Project, example_id: int) -> Example:
    return repository.get_in_project(db, Example, project, example_id)


def _set_messages(db: Session, project: Project, example: Example, messages: Any) -> None:
    """Validate and hash the conversation the way the import does; 409 when another example
    already holds it."""
    try:
        parsed = parse_record({"messages": messages, "tools": example.tools}, "messages")
    except RecordInvalid as exc:
        raise Invalid(f"field {exc.field}: {exc.message}") from exc
    new_hash = example_hash(parsed.messages, example.tools)  # type: ignore[union-attr]
    clash = db.scalar(
        select(Example.id).where(
            Example.project_id == project.id,
            Example.content_hash == new_hash,
            Example.id != example.id,
        )
    )
    if clash is not None:
        raise Conflict(f"example {clash} already holds exactly this conversation")
    example.messages = parsed.messages  # type: ignore[union-attr]
    example.needs_response = parsed.needs_response  # type: ignore[union-attr]
    example.content_hash = new_hash


def create(
    db: Session, project: Project, user: User, messages: list[dict[str, Any]], tags: list[str]
) -> Example:
    """A new draft example written by hand, validated and hashed like an import; recorded as
    a "create" revision and announced, so the contamination check runs on it as on any edit."""
    example = Example(project_id=project.id, source=Source.human, status=ItemStatus.draft,
                      tags=list(tags), messages=[], tools=None, created_by_id=user.id)  # fmt: skip
    _set_messages(db, project, example, messages)
    db.add(example)
    db.flush()
    changes.record(db, project, user, KIND, example, "create", None, snapshot(example))
    changes.content_changed(db, project, user, KIND, example.id)
    return example


def update(
    db: Session, project: Project, example_id: int, user: User, data: ExampleUpdate
) -> Example:
    example = get(db, project, example_id)
    before = snapshot(example)
    changes.check_version(KIND, example, data.version, before)
    edits = data.model_dump(exclude_unset=True, exclude={"version"})
    if "messages" in edits:
        _set_messages(db, project, example, edits["messages"])
        if example.messages != before["messages"]:
            changes.reset_approval(example)
    for key in ("tags", "rating", "split"):
        if key in edits:
            setattr(example, key, edits[key])
    after = snapshot(example)
    if after == before:
        return example
    changes.record(db, project, user, KIND, example, "edit", before, after)
    if content_differs(KIND, before, after):
        changes.content_changed(db, project, user, KIND, example.id)
    return example


def revisions(db: Session, project: Project, example_id: int) -> list[Revision]:
    get(db, project, example_id)
    return repository.revisions_of(db, KIND, example_id)


def revert(
    db: Session,
    project: Project,
    user: User,
    example_id: int,
    revision_id: int,
    version: int,
    *,
    before: bool = False,
) -> Example:
    """Restore the example as it was right after revision `revision_id` (before it with
    `before=True`); recorded as a new "revert" revision."""
    kind = KIND
    example = get(db, project, example_id)
    current = snapshot(example)
    changes.check_version(kind, example, version, current)
    target = changes.revert_target(db, kind, example, revision_id, current, RESTORED, before=before)
    if all(target[key] == current[key] for key in RESTORED):
        raise Invalid(f"example {example_id} already is as it was at revision {revision_id}")
    if target["messages"] != current["messages"]:
        _set_messages(db, project, example, target["messages"])
    example.tags = list(target["tags"] or [])
    example.rating = target["rating"]
    changes.set_status(db, project, kind, example, ItemStatus(target["status"]))
    point = "before" if before else "after"
    after = {**snapshot(example), "reverted_to": f"{point} revision {revision_id}"}
    changes.record(db, project, user, kind, example, "revert", current, after)
    if content_differs(kind, current, after):
        changes.content_changed(db, project, user, kind, example.id)
    return example
