"""Everything tests build rows, records and sessions with: one module, imported by test files.

Fixtures stay in the conftest files (pytest finds them there); the functions they and the tests
call live here, so no test imports from a conftest or from another test module.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.formats import example_hash, pair_hash
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    Label,
    LabelState,
    Preference,
    PreferencePair,
    Project,
    ProjectMember,
    Role,
    Source,
    User,
)
from app.users import service as users

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PASSWORD = "correct horse battery staple"
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
XSS_PAYLOADS = (
    XSS,
    "<img src=x onerror=alert(1)>",
    '<div hx-get="/logout" hx-trigger="load">x</div>',
)

# Argon2 at the smallest cost it accepts: a hash takes microseconds instead of ~0.4 s. Hashes
# keep their parameters inside, so the app still verifies them; production cost is tested once
# (tests/auth/test_passwords.py).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

_counter = itertools.count()
RunJobs = Callable[[], list[int]]
Importer = Callable[..., None]


# -- jobs ----------------------------------------------------------------------------------------


@dataclass
class RecordingDispatcher:
    """Records job ids instead of sending them to a broker; `run_jobs` runs them inline."""

    sent: list[int] = field(default_factory=list)
    queues: dict[int, str] = field(default_factory=dict)

    def send(self, job_id: int, queue: str = "short") -> None:
        self.sent.append(job_id)
        self.queues[job_id] = queue


# -- users and sessions --------------------------------------------------------------------------


def make_user(db: Session, email: str, role: Role) -> User:
    user = users.create_user(db, email=email, password=PASSWORD, role=role)
    db.commit()
    return user


def raw_user(db: Session, email: str, role: Role = Role.annotator) -> User:
    """A user made without the service's checks (to put odd text in an email)."""
    user = User(email=email, password_hash="x", role=role, active=True)
    db.add(user)
    db.flush()
    return user


def add_member(db: Session, project: Project, user: User, role: Role) -> None:
    db.add(ProjectMember(project_id=project.id, user_id=user.id, role=role))
    db.commit()


def make_member(db: Session, project: Project, email: str, role: Role = Role.annotator) -> User:
    """A new user who is a member of the project with the same role."""
    user = make_user(db, email, role)
    add_member(db, project, user, role)
    return user


_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the real form; returns the CSRF token for later posts."""
    page = client.get("/login")
    token = _CSRF.search(page.text)
    assert token, "login page carries a CSRF meta tag"
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code in (200, 303), response.text
    home = client.get("/projects")
    found = _CSRF.search(home.text)
    assert found, "pages carry the session's CSRF token"
    return found.group(1)


def bearer(client: TestClient, db: Session, user: User) -> dict[str, str]:
    _, secret = users.create_token(db, user, "tests")
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


# -- records, as files an import reads -----------------------------------------------------------


def chat(user: str, assistant: str = "an answer") -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    }


def pair_record(
    prompt: str, chosen: str = "good answer", rejected: str = "bad answer"
) -> dict[str, Any]:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def alpaca(i: int, output: str = "an answer") -> dict[str, str]:
    return {"instruction": f"question {i}", "input": "", "output": output}


def write_jsonl(path: Path, records: Sequence[Any], *, compress: bool = False) -> Path:
    text = "".join(json.dumps(record) + "\n" for record in records)
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def import_records(
    db: Session, project: Project, records: Sequence[Any], directory: Path, **options: Any
) -> None:
    """Write the records as JSONL under `directory`, import them through the real service,
    commit."""
    path = directory / f"rows-{len(list(directory.iterdir()))}.jsonl"
    write_jsonl(path, records)
    import_file(
        db, project_id=project.id, path=path, options=ImportOptions(**options), user_id=None
    )
    db.commit()


# -- rows, made directly (an import would do the same, slower) ----------------------------------


def conversation(question: str, answer: str, system: str = "") -> list[dict[str, Any]]:
    turns = [{"role": "system", "content": system}] if system else []
    return [*turns, {"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def make_example(
    db: Session,
    project: Project,
    messages: list[dict[str, Any]] | None = None,
    *,
    status: ItemStatus = ItemStatus.draft,
    source: Source = Source.human,
    rating: int | None = None,
) -> Example:
    """An example (numbered question and answer unless `messages` is given), flushed."""
    if messages is None:
        n = next(_counter)
        messages = conversation(f"question {n}", f"answer {n}")
    example = Example(
        project_id=project.id,
        source=source,
        status=status,
        rating=rating,
        messages=messages,
        tags=[],
        content_hash=example_hash(messages, None),
    )
    db.add(example)
    db.flush()
    return example


def make_examples(
    db: Session,
    project: Project,
    n: int,
    *,
    status: ItemStatus = ItemStatus.draft,
    prefix: str = "Question",
) -> list[Example]:
    """n examples `{prefix} i?` / `Answer i.`, committed."""
    examples = [
        make_example(db, project, conversation(f"{prefix} {i}?", f"Answer {i}."), status=status)
        for i in range(n)
    ]
    db.commit()
    return examples


def make_pair(
    db: Session,
    project: Project,
    *,
    prompt: str | None = None,
    chosen: str | None = None,
    rejected: str | None = None,
    status: ItemStatus = ItemStatus.draft,
    source: Source = Source.human,
    rating: int | None = None,
) -> PreferencePair:
    """A preference pair (numbered texts unless given), flushed."""
    n = next(_counter)
    prompt_turns = [{"role": "user", "content": prompt or f"prompt {n}"}]
    chosen_turns = [{"role": "assistant", "content": chosen or f"good {n}"}]
    rejected_turns = [{"role": "assistant", "content": rejected or f"bad {n}"}]
    pair = PreferencePair(
        project_id=project.id,
        source=source,
        status=status,
        rating=rating,
        prompt=prompt_turns,
        chosen=chosen_turns,
        rejected=rejected_turns,
        tags=[],
        content_hash=pair_hash(prompt_turns, chosen_turns, rejected_turns),
    )
    db.add(pair)
    db.flush()
    return pair


def make_pairs(db: Session, project: Project, n: int) -> list[PreferencePair]:
    """n pairs `Prompt i` / `Good answer i` / `Bad answer i`, committed."""
    pairs = [
        make_pair(
            db, project, prompt=f"Prompt {i}", chosen=f"Good answer {i}", rejected=f"Bad answer {i}"
        )
        for i in range(n)
    ]
    db.commit()
    return pairs


def examples_of(db: Session, project: Project) -> list[Example]:
    return list(
        db.scalars(select(Example).where(Example.project_id == project.id).order_by(Example.id))
    )


def pairs_of(db: Session, project: Project) -> list[PreferencePair]:
    return list(
        db.scalars(
            select(PreferencePair)
            .where(PreferencePair.project_id == project.id)
            .order_by(PreferencePair.id)
        )
    )


def make_label(
    db: Session,
    project_id: int,
    kind: ItemKind,
    item_id: int,
    user: User,
    *,
    state: LabelState = LabelState.submitted,
    rating: int | None = None,
    preference: Preference | str | None = None,
    note: str = "",
    tags: list[str] | None = None,
    seconds: float | None = None,
) -> Label:
    """A label as the labeling queue leaves it, flushed."""
    label = Label(
        project_id=project_id,
        item_kind=kind.value,
        item_id=item_id,
        user_id=user.id,
        state=state,
        rating=rating,
        preference=Preference(preference) if preference else None,
        note=note,
        tags=tags or [],
        seconds=seconds,
    )
    db.add(label)
    db.flush()
    return label


def label_item(db: Session, item: Example | PreferencePair, user: User, **fields: Any) -> Label:
    """A label on a row (the kind taken from its class), flushed."""
    kind = ItemKind.example if isinstance(item, Example) else ItemKind.pair
    return make_label(db, item.project_id, kind, item.id, user, **fields)


def add_label(
    db: Session,
    project: Project,
    kind: ItemKind,
    item_id: int,
    user: User,
    *,
    rating: int | None = 4,
    seconds: float | None = 12.5,
    **fields: Any,
) -> Label:
    """A submitted label (rating 4, 12.5 s unless given), committed."""
    label = make_label(
        db, project.id, kind, item_id, user, rating=rating, seconds=seconds, **fields
    )
    db.commit()
    return label


# -- the embedding model, memoised for the test session ----------------------------------------

F32 = np.ndarray[Any, np.dtype[np.float32]]


class MemoEncoder:
    """The real encoder, remembering every text's vector for the rest of the test session."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.seen: dict[str, F32] = {}

    def encode(self, texts: Sequence[str]) -> F32:
        missing = list(dict.fromkeys(t for t in texts if t not in self.seen))
        if missing:
            for text, vector in zip(missing, self.inner.encode(missing), strict=True):
                self.seen[text] = vector
        if not texts:
            result: F32 = self.inner.encode([])
            return result
        return np.stack([self.seen[t] for t in texts])


_memo: list[MemoEncoder] = []


def memo_encoder(make: Callable[[], Any]) -> MemoEncoder:
    """One MemoEncoder per test session around the encoder `make()` returns."""
    if not _memo:
        _memo.append(MemoEncoder(make()))
    return _memo[0]
