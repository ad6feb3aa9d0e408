"""Eval sets: the benchmarks a project keeps out of its training data. Never commits.

A set is read from a file all-or-nothing (:mod:`app.evalsets.reader`): one bad record and
nothing is stored. While unfrozen a set can be re-uploaded, renamed, given other text fields or
deleted. Freezing fixes its content hash and queues the job that indexes it for contamination
checks; from then on the set never changes -- any change is a :class:`Conflict`, because a
changed set is a new version (:func:`new_version`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.evalsets import repository
from app.evalsets.reader import EvalFileError, EvalRecord, read_eval_file
from app.evalsets.schemas import NAME_MAX, split_fields
from app.jobs import service as jobs
from app.models import EvalItem, EvalSet, Job, Project, User
from app.models.base import utcnow

EVAL_INDEX_JOB = "eval_index"
HASH_HEADER = "trellis-eval-set/1\n"
ItemRow = tuple[int, dict[str, Any], str, str]  # position, original, text, content_hash


def list_for(db: Session, project: Project) -> list[EvalSet]:
    """The project's sets by name, newest version first."""
    return repository.for_project(db, project.id)


def item_counts(db: Session, eval_sets: Sequence[EvalSet]) -> dict[int, int]:
    counts = repository.item_counts(db, [s.id for s in eval_sets])
    return {s.id: counts.get(s.id, 0) for s in eval_sets}


def item_count(db: Session, eval_set: EvalSet) -> int:
    return repository.item_count(db, eval_set.id)


def get(db: Session, project: Project, eval_set_id: int) -> EvalSet:
    eval_set = repository.get(db, eval_set_id)
    if eval_set is None or eval_set.project_id != project.id:
        raise NotFound(f"eval set {eval_set_id} not found in project '{project.slug}'")
    return eval_set


def items(
    db: Session, eval_set: EvalSet, *, start: int = 0, limit: int = 50
) -> tuple[list[EvalItem], int, int | None]:
    """Up to `limit` items from position `start` on, in position order; the set's item count;
    and the position the next page starts at (None on the last page)."""
    if start < 0 or limit < 1:
        raise Invalid("start must be 0 or more and limit at least 1")
    rows = repository.items_page(db, eval_set.id, start, limit + 1)
    next_start = rows[limit].position if len(rows) > limit else None
    return rows[:limit], item_count(db, eval_set), next_start


def create_from_file(
    db: Session,
    project: Project,
    user: User,
    *,
    name: str,
    path: Path,
    fields: Sequence[str] | None = None,
    header: bool | None = None,
    display_name: str | None = None,
) -> EvalSet:
    """Read `path` into a new, unfrozen set with one item per record.

    `fields` are the text fields checks compare (None or empty: every string field); `header`
    forces or refuses a CSV header row (None: detected). A set of the same name gets the next
    version number. An unreadable file raises `Invalid` quoting the reader's message (with
    `display_name` in place of the stored path) and stores nothing.
    """
    name = _clean_name(name)
    wanted = split_fields(fields)
    records = _read(path, wanted, header, display_name)
    eval_set = _new_set(db, project.id, user.id, name, wanted)
    repository.add_items(db, eval_set.id, _record_rows(records))
    return eval_set


def replace_items(
    db: Session,
    eval_set: EvalSet,
    *,
    path: Path,
    fields: Sequence[str] | None = None,
    header: bool | None = None,
    display_name: str | None = None,
) -> EvalSet:
    """Replace an unfrozen set's items with the records of `path` (`fields` None: keep the
    set's text fields). Conflict when the set is frozen; nothing changes when the file is bad."""
    return update(
        db, eval_set, text_fields=fields, path=path, header=header, display_name=display_name
    )


def update(
    db: Session,
    eval_set: EvalSet,
    *,
    name: str | None = None,
    text_fields: Sequence[str] | None = None,
    path: Path | None = None,
    header: bool | None = None,
    display_name: str | None = None,
) -> EvalSet:
    """Change an unfrozen set: rename it, change its text fields (each item's text is derived
    again from its stored record) and/or replace its items with the records of `path`.

    Everything is checked before anything is written: a bad file or field raises `Invalid`, a
    taken name `Conflict`, and the set is then as it was. Conflict when the set is frozen.
    """
    action = "replacing its items" if path is not None else "renaming it or changing its fields"
    _lock_unfrozen(db, eval_set, action)
    new_name = _clean_name(name) if name is not None else eval_set.name
    wanted = list(eval_set.text_fields) if text_fields is None else split_fields(text_fields)
    rows: list[ItemRow] | None = None
    if path is not None:
        rows = list(_record_rows(_read(path, wanted, header, display_name)))
    elif wanted != eval_set.text_fields:
        rows = _rederived(db, eval_set, wanted)
    if new_name != eval_set.name:
        taken = repository.exists(db, eval_set.project_id, new_name, eval_set.version)
        if taken or not repository.rename(db, eval_set, new_name):
            raise Conflict(
                f"eval set '{new_name}' already has a version {eval_set.version}; "
                "choose another name"
            )
    if rows is not None:
        repository.delete_items(db, eval_set.id)
        repository.add_items(db, eval_set.id, rows)
        eval_set.text_fields = wanted
    eval_set.updated_at = utcnow()
    db.flush()
    return eval_set


def delete(db: Session, eval_set: EvalSet) -> None:
    """Delete an unfrozen set and its items. Conflict when the set is frozen."""
    _lock_unfrozen(db, eval_set, "deleting it")
    repository.delete_set(db, eval_set)


def content_hash(text_fields: Sequence[str], item_hashes: Iterable[str]) -> str:
    """The content hash of a frozen set: SHA-256 (lowercase hex) over the UTF-8 bytes of

    1. the line ``trellis-eval-set/1`` (a recipe version),
    2. the text fields as compact JSON on one line, in their order (``[]`` means every string
       field), e.g. ``["prompt","canonical_solution"]``: ``json.dumps(fields,
       ensure_ascii=False, separators=(",", ":"))``,
    3. each item's content hash (the SHA-256 of its record's canonical JSON: sorted keys,
       ``(",", ":")`` separators, UTF-8) on its own line, in position order,

    every line ending in ``\\n``. So the hash changes when any record, the order or the compared
    fields change, and anyone holding the items can recompute it.
    """
    digest = hashlib.sha256(HASH_HEADER.encode())
    fields_line = json.dumps(list(text_fields), ensure_ascii=False, separators=(",", ":"))
    digest.update(f"{fields_line}\n".encode())
    for item_hash in item_hashes:
        digest.update(f"{item_hash}\n".encode())
    return digest.hexdigest()


def freeze(db: Session, eval_set: EvalSet, user: User) -> Job:
    """Freeze the set: set `frozen_at` and `content_hash` (see :func:`content_hash`), then queue
    the `eval_index` job that precomputes what contamination checks compare against (sent
    after the commit). Conflict when the set is already frozen."""
    repository.lock(db, eval_set)
    if eval_set.frozen_at is not None:
        raise Conflict(
            f"eval set '{eval_set.name}' v{eval_set.version} is already frozen "
            f"(since {eval_set.frozen_at:%Y-%m-%d %H:%M} UTC)"
        )
    hashes = repository.item_hashes(db, eval_set.id)
    if not hashes:
        raise Invalid(f"eval set '{eval_set.name}' v{eval_set.version} has no items to freeze")
    eval_set.content_hash = content_hash(eval_set.text_fields, hashes)
    eval_set.frozen_at = utcnow()
    db.flush()
    return jobs.create(
        db,
        kind=EVAL_INDEX_JOB,
        params={"eval_set_id": eval_set.id},
        project_id=eval_set.project_id,
        user_id=user.id,
    )


def new_version(
    db: Session,
    eval_set: EvalSet,
    user: User,
    path: Path | None = None,
    fields: Sequence[str] | None = None,
    *,
    header: bool | None = None,
    display_name: str | None = None,
) -> EvalSet:
    """A new, unfrozen set of the same name, one version above the highest so far.

    With `path`, its records are read from that file; without, the items are copied (their
    texts derived again when `fields` differ from the set's). `fields` None keeps the set's
    text fields. Works on frozen and unfrozen sets alike; the source is left as it is.
    """
    wanted = list(eval_set.text_fields) if fields is None else split_fields(fields)
    rows: Iterable[ItemRow] | None = None
    if path is not None:
        rows = _record_rows(_read(path, wanted, header, display_name))
    elif wanted != eval_set.text_fields:
        rows = _rederived(db, eval_set, wanted)
    created = _new_set(db, eval_set.project_id, user.id, eval_set.name, wanted)
    if rows is None:
        repository.copy_items(db, eval_set.id, created.id)
    else:
        repository.add_items(db, created.id, rows)
    return created


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise Invalid("name: give the eval set a name")
    if len(name) > NAME_MAX:
        raise Invalid(f"name: at most {NAME_MAX} characters")
    return name


def _new_set(
    db: Session, project_id: int, user_id: int | None, name: str, text_fields: list[str]
) -> EvalSet:
    version = (repository.max_version(db, project_id, name) or 0) + 1
    eval_set = EvalSet(
        project_id=project_id,
        name=name,
        version=version,
        text_fields=list(text_fields),
        created_by_id=user_id,
    )
    if not repository.add(db, eval_set):
        raise Conflict(f"eval set '{name}' v{version} was created at the same moment; try again")
    return eval_set


def _lock_unfrozen(db: Session, eval_set: EvalSet, action: str) -> None:
    repository.lock(db, eval_set)
    if eval_set.frozen_at is not None:
        raise Conflict(
            f"eval set '{eval_set.name}' v{eval_set.version} is frozen and never changes, so "
            f"{action} is refused; create a new version instead"
        )


def _read(
    path: Path, fields: list[str], header: bool | None, display_name: str | None
) -> list[EvalRecord]:
    try:
        return read_eval_file(path, fields or None, header=header)
    except EvalFileError as exc:
        message = str(exc)
        if display_name:
            message = message.replace(str(path), display_name)
        raise Invalid(f"{message} (nothing was stored)") from exc


def _record_rows(records: list[EvalRecord]) -> Iterator[ItemRow]:
    for record in records:
        yield record.index, record.original, record.text, record.content_hash


def _rederived(db: Session, eval_set: EvalSet, fields: list[str]) -> list[ItemRow]:
    """The set's items with their texts derived again from the stored records, through the
    same reader as an upload (so the same rules and errors apply); hashes are kept.

    With every string field compared (no `fields`), the text follows the stored record's key
    order: the file's on SQLite, while PostgreSQL's JSONB keeps keys in its own order.
    """
    stored = repository.item_rows(db, eval_set.id)
    label = f"the records of eval set '{eval_set.name}' v{eval_set.version} (one per line)"
    with tempfile.TemporaryDirectory(prefix="trellis-evalset-") as tmp:
        path = Path(tmp) / "records.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for _, original, _ in stored:
                out.write(json.dumps(original, ensure_ascii=False) + "\n")
        records = _read(path, fields, None, label)
    return [
        (position, original, record.text, item_hash)
        for (position, original, item_hash), record in zip(stored, records, strict=True)
    ]
