"""Reading and changing preference pairs: version-checked edits, swapping chosen and rejected,
pairs made from SFT examples, and reverts. Every change is recorded as a revision."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid
from app.formats import PairRecord, RecordInvalid, parse_record
from app.items import changes, repository
from app.items.kinds import CONTENT as CONTENT_OF
from app.items.kinds import content_differs, snapshot
from app.items.listing import list_items
from app.items.schemas import ListFilter
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    PreferencePair,
    Project,
    Revision,
    Source,
    User,
)
from app.pairs.schemas import PairUpdate

KIND = ItemKind.pair
CONTENT = CONTENT_OF[KIND]
# What a revert restores: the content, the labels' tags and rating, and the status.
RESTORED = (*CONTENT, "tags", "rating", "status")


def list_pairs(
    db: Session, project: Project, f: ListFilter
) -> tuple[list[PreferencePair], int, str | None]:
    return list_items(db, PreferencePair, project.id, f)


def get(db: Session, project: Project, pair_id: int) -> PreferencePair:
    return repository.get_in_project(db, PreferencePair, project, pair_id)


def can_make_pair(example: Example) -> bool:
    """A pair needs a prompt followed by an assistant response to compare against."""
    roles = [m.get("role") for m in example.messages]
    return not example.needs_response and "assistant" in roles[1:]


def _parse(prompt: Any, chosen: Any, rejected: Any) -> PairRecord:
    """Validate and hash the way the import does."""
    try:
        parsed = parse_record(
            {"prompt": prompt, "chosen": chosen, "rejected": rejected}, "preference"
        )
    except RecordInvalid as exc:
        raise Invalid(f"field {exc.field}: {exc.message}") from exc
    assert isinstance(parsed, PairRecord)
    return parsed


def _clash(db: Session, project: Project, content_hash: str, pair_id: int | None) -> int | None:
    query = select(PreferencePair.id).where(
        PreferencePair.project_id == project.id, PreferencePair.content_hash == content_hash
    )
    if pair_id is not None:
        query = query.where(PreferencePair.id != pair_id)
    return db.scalar(query)


def _set_content(
    db: Session, project: Project, pair: PreferencePair, prompt: Any, chosen: Any, rejected: Any
) -> None:
    parsed = _parse(prompt, chosen, rejected)
    clash = _clash(db, project, parsed.content_hash, pair.id)
    if clash is not None:
        raise Conflict(
            f"pair {clash} already holds exactly this prompt and these responses",
            details={"pair_id": clash},
        )
    if parsed.content_hash != pair.content_hash:
        changes.reset_approval(pair)
    pair.prompt, pair.chosen, pair.rejected = parsed.prompt, parsed.chosen, parsed.rejected
    pair.content_hash = parsed.content_hash


def update(
    db: Session, project: Project, pair_id: int, user: User, data: PairUpdate
) -> PreferencePair:
    pair = get(db, project, pair_id)
    before = snapshot(pair)
    changes.check_version(KIND, pair, data.version, before)
    edits = data.model_dump(exclude_unset=True, exclude={"version"})
    if any(edits.get(key) is not None for key in CONTENT):
        content = {key: edits.get(key) or before[key] for key in CONTENT}
        _set_content(db, project, pair, **content)
    for key in ("tags", "rating"):
        if key in edits:
            setattr(pair, key, edits[key] if key == "rating" else list(edits[key] or []))
    after = snapshot(pair)
    if after == before:
        return pair
    changes.record(db, project, user, KIND, pair, "edit", before, after)
    if content_differs(KIND, before, after):
        changes.content_changed(db, project, user, KIND, pair.id)
    return pair


def swap(db: Session, project: Project, pair_id: int, user: User, version: int) -> PreferencePair:
    """Exchange chosen and rejected. Annotators' preferences are stored in terms of the sides,
    so they are flipped too and keep meaning what the annotator said."""
    pair = get(db, project, pair_id)
    before = snapshot(pair)
    changes.check_version(KIND, pair, version, before)
    _set_content(db, project, pair, pair.prompt, pair.rejected, pair.chosen)
    changes.record(db, project, user, KIND, pair, "swap", before, snapshot(pair))
    repository.flip_preferences(db, pair.id)
    changes.content_changed(db, project, user, KIND, pair.id)
    return pair


def create_from_example(
    db: Session,
    project: Project,
    user: User,
    example_id: int,
    alternative_text: str,
    better: Literal["original", "alternative"],
) -> PreferencePair:
    """A pair from an SFT example: the turns before its last assistant turn are the prompt; that
    turn and the alternative are the responses, `better` says which one is chosen."""
    example = repository.get_in_project(db, Example, project, example_id)
    if example.needs_response:
        raise Invalid(f"example {example_id} still needs its response: write that first")
    last = next(
        (i for i in range(len(example.messages) - 1, -1, -1)
         if example.messages[i].get("role") == "assistant"),
        None,
    )  # fmt: skip
    if last is None or last == 0:
        raise Invalid(f"example {example_id} has no assistant response after a prompt")
    alternative = alternative_text.strip()
    if not alternative:
        raise Invalid("write the alternative response")
    original = [example.messages[last]]
    mine = [{"role": "assistant", "content": alternative}]
    chosen, rejected = (original, mine) if better == "original" else (mine, original)
    parsed = _parse(example.messages[:last], chosen, rejected)
    clash = _clash(db, project, parsed.content_hash, None)
    if clash is not None:
        raise Conflict(f"pair {clash} already holds exactly this pair", details={"pair_id": clash})
    pair = PreferencePair(
        project_id=project.id,
        source=Source.human,
        status=ItemStatus.submitted,
        prompt=parsed.prompt,
        chosen=parsed.chosen,
        rejected=parsed.rejected,
        content_hash=parsed.content_hash,
        tags=[],
        created_by_id=user.id,
    )
    db.add(pair)
    db.flush()
    after = {**snapshot(pair), "from_example": example.id}
    changes.record(db, project, user, KIND, pair, "create", None, after)
    changes.content_changed(db, project, user, KIND, pair.id)
    return pair


def revisions(db: Session, project: Project, pair_id: int) -> list[Revision]:
    get(db, project, pair_id)
    return repository.revisions_of(db, KIND, pair_id)


def revert(
    db: Session,
    project: Project,
    user: User,
    pair_id: int,
    revision_id: int,
    version: int,
    *,
    before: bool = False,
) -> PreferencePair:
    """Restore the pair as it was right after revision `revision_id` (before it with
    `before=True`); recorded as a new "revert" revision."""
    pair = get(db, project, pair_id)
    current = snapshot(pair)
    changes.check_version(KIND, pair, version, current)
    target = changes.revert_target(db, KIND, pair, revision_id, current, RESTORED, before=before)
    if all(target[key] == current[key] for key in RESTORED):
        raise Invalid(f"pair {pair_id} already is as it was at revision {revision_id}")
    if any(target[key] != current[key] for key in CONTENT):
        _set_content(db, project, pair, target["prompt"], target["chosen"], target["rejected"])
    pair.tags = list(target["tags"] or [])
    pair.rating = target["rating"]
    changes.set_status(db, project, KIND, pair, ItemStatus(target["status"]))
    point = "before" if before else "after"
    after = {**snapshot(pair), "reverted_to": f"{point} revision {revision_id}"}
    changes.record(db, project, user, KIND, pair, "revert", current, after)
    if content_differs(KIND, current, after):
        changes.content_changed(db, project, user, KIND, pair.id)
    return pair
