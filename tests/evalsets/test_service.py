"""Eval sets through the service: reading benchmarks, versions, freezing and immutability."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid
from app.evalsets import service
from app.evalsets.reader import read_eval_file
from app.models import EvalItem, EvalSet, Job, JobState, Project, User
from tests.factories import SHARED_DATA, RecordingDispatcher

HUMANEVAL = SHARED_DATA / "humaneval.jsonl.gz"
MMLU = SHARED_DATA / "mmlu_sociology_test.csv"
HE_FIELDS = ["prompt", "canonical_solution"]


def _humaneval(db: Session, project: Project, user: User, name: str = "humaneval") -> EvalSet:
    eval_set = service.create_from_file(
        db, project, user, name=name, path=HUMANEVAL, fields=HE_FIELDS, header=None
    )
    db.commit()
    return eval_set


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _stored_sets(db: Session, project: Project) -> int:
    query = select(func.count()).select_from(EvalSet).where(EvalSet.project_id == project.id)
    return db.scalar(query) or 0


def test_humaneval_with_prompt_and_solution(db: Session, project: Project, engineer: User) -> None:
    eval_set = _humaneval(db, project, engineer)
    assert (eval_set.name, eval_set.version, eval_set.text_fields) == ("humaneval", 1, HE_FIELDS)
    assert eval_set.frozen_at is None and eval_set.content_hash is None
    assert eval_set.created_by_id == engineer.id
    assert service.item_count(db, eval_set) == 164
    with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as fh:
        first = json.loads(fh.readline())
    items, total, next_start = service.items(db, eval_set, start=0, limit=2)
    assert total == 164 and next_start == 2
    assert [i.position for i in items] == [0, 1]
    assert items[0].original == first
    assert items[0].text == first["prompt"] + "\n" + first["canonical_solution"]
    assert items[0].content_hash == read_eval_file(HUMANEVAL, HE_FIELDS)[0].content_hash
    last, _, end = service.items(db, eval_set, start=160, limit=50)
    assert [i.position for i in last] == [160, 161, 162, 163] and end is None


def test_mmlu_headerless_csv(db: Session, project: Project, engineer: User) -> None:
    eval_set = service.create_from_file(
        db, project, engineer, name="mmlu-sociology", path=MMLU, fields=None, header=None
    )
    assert service.item_count(db, eval_set) == 201
    assert eval_set.text_fields == []
    (first,), _, _ = service.items(db, eval_set, limit=1)
    assert first.original["column_1"] == "Mass-society theory suggests that:"
    assert first.original["column_6"] == "C"
    assert first.text.startswith("Mass-society theory suggests that:\nthe content of the media")
    forced = service.create_from_file(
        db, project, engineer, name="mmlu-forced", path=MMLU, fields=None, header=False
    )
    assert service.item_count(db, forced) == 201


def test_bad_file_names_the_line_and_stores_nothing(
    db: Session, project: Project, engineer: User, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?"}\n{"question": "broken\n{"question": "x"}\n')
    with pytest.raises(Invalid) as caught:
        service.create_from_file(
            db, project, engineer, name="gsm8k", path=bad, fields=None, header=None,
            display_name="gsm8k-test.jsonl",
        )  # fmt: skip
    message = caught.value.message
    assert message.startswith("gsm8k-test.jsonl: line 2:"), message
    assert "nothing was stored" in message
    assert str(tmp_path) not in message  # the server's path is not shown
    assert _stored_sets(db, project) == 0
    missing = _jsonl(tmp_path / "ok.jsonl", [{"question": "a"}])
    with pytest.raises(Invalid, match="no record has the field 'answer'"):
        service.create_from_file(
            db, project, engineer, name="gsm8k", path=missing, fields=["answer"], header=None
        )
    assert _stored_sets(db, project) == 0


def test_a_name_used_again_is_the_next_version(
    db: Session, project: Project, engineer: User, tmp_path: Path
) -> None:
    first = _humaneval(db, project, engineer)
    second = service.create_from_file(
        db, project, engineer, name=" humaneval ", path=HUMANEVAL, fields=["prompt"], header=None
    )
    assert (second.name, second.version) == ("humaneval", 2)
    other = _humaneval(db, project, engineer, name="other")
    assert other.version == 1
    assert [(s.name, s.version) for s in service.list_for(db, project)] == [
        ("humaneval", 2), ("humaneval", 1), ("other", 1),
    ]  # fmt: skip
    assert service.item_counts(db, [first, second]) == {first.id: 164, second.id: 164}
    with pytest.raises(Invalid, match="name"):
        service.create_from_file(db, project, engineer, name="  ", path=HUMANEVAL, fields=None,
                                 header=None)  # fmt: skip


def test_freeze_sets_the_documented_hash_and_queues_the_index_job(
    db: Session, project: Project, engineer: User, dispatcher: RecordingDispatcher
) -> None:
    eval_set = _humaneval(db, project, engineer)
    job = service.freeze(db, eval_set, engineer)
    assert dispatcher.sent == []  # only once the transaction commits
    db.commit()
    assert dispatcher.sent == [job.id]
    assert eval_set.frozen_at is not None
    # The recipe in service.content_hash's docstring, recomputed from the file alone.
    expected = hashlib.sha256(b"trellis-eval-set/1\n")
    expected.update(b'["prompt","canonical_solution"]\n')
    for record in read_eval_file(HUMANEVAL, HE_FIELDS):
        canonical = json.dumps(
            record.original, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        expected.update(hashlib.sha256(canonical.encode()).hexdigest().encode() + b"\n")
    assert eval_set.content_hash == expected.hexdigest()
    stored = db.get(Job, job.id)
    assert stored is not None
    assert (stored.kind, stored.params, stored.state) == (
        "eval_index", {"eval_set_id": eval_set.id}, JobState.queued,
    )  # fmt: skip
    assert (stored.project_id, stored.created_by_id) == (project.id, engineer.id)
    with pytest.raises(Conflict, match="already frozen"):
        service.freeze(db, eval_set, engineer)


def test_the_hash_depends_on_fields_and_order() -> None:
    base = service.content_hash(["q"], ["a" * 64, "b" * 64])
    assert base != service.content_hash([], ["a" * 64, "b" * 64])
    assert base != service.content_hash(["q"], ["b" * 64, "a" * 64])
    assert base == service.content_hash(("q",), iter(["a" * 64, "b" * 64]))


def test_a_frozen_set_never_changes(
    db: Session,
    project: Project,
    engineer: User,
    dispatcher: RecordingDispatcher,
    tmp_path: Path,
) -> None:
    eval_set = _humaneval(db, project, engineer)
    service.freeze(db, eval_set, engineer)
    db.commit()
    frozen_hash = eval_set.content_hash
    other = _jsonl(tmp_path / "other.jsonl", [{"prompt": "p", "canonical_solution": "s"}])
    attempts = [
        lambda: service.replace_items(db, eval_set, path=other),
        lambda: service.update(db, eval_set, name="renamed"),
        lambda: service.update(db, eval_set, text_fields=["prompt"]),
        lambda: service.delete(db, eval_set),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict, match="create a new version"):
            attempt()
    db.rollback()
    db.refresh(eval_set)
    assert (eval_set.name, eval_set.text_fields) == ("humaneval", HE_FIELDS)
    assert eval_set.content_hash == frozen_hash
    assert service.item_count(db, eval_set) == 164


def test_new_version_copies_rereads_or_rederives(
    db: Session,
    project: Project,
    engineer: User,
    dispatcher: RecordingDispatcher,
    tmp_path: Path,
) -> None:
    eval_set = _humaneval(db, project, engineer)
    service.freeze(db, eval_set, engineer)
    copy = service.new_version(db, eval_set, engineer)
    assert (copy.name, copy.version, copy.frozen_at, copy.content_hash) == (
        "humaneval", 2, None, None,
    )  # fmt: skip
    assert copy.text_fields == HE_FIELDS
    old_items, _, _ = service.items(db, eval_set, limit=500)
    new_items, _, _ = service.items(db, copy, limit=500)
    assert [(i.position, i.text, i.content_hash, i.original) for i in new_items] == [
        (i.position, i.text, i.content_hash, i.original) for i in old_items
    ]
    prompts = service.new_version(db, eval_set, engineer, fields=["prompt"])
    assert (prompts.version, prompts.text_fields) == (3, ["prompt"])
    (item,), _, _ = service.items(db, prompts, limit=1)
    assert item.text == old_items[0].original["prompt"]
    assert item.content_hash == old_items[0].content_hash
    changed = _jsonl(tmp_path / "he.jsonl", [{"prompt": "p1", "canonical_solution": "s1"}])
    reread = service.new_version(db, eval_set, engineer, changed)
    assert reread.version == 4 and service.item_count(db, reread) == 1
    with pytest.raises(Invalid, match="'nope'"):
        service.new_version(db, eval_set, engineer, fields=["nope"])
    assert [s.version for s in service.list_for(db, project)] == [4, 3, 2, 1]
    # The source is untouched, and its hash still verifies.
    service.new_version(db, copy, engineer)
    assert eval_set.content_hash == service.content_hash(
        HE_FIELDS, [i.content_hash for i in old_items]
    )


def test_an_unfrozen_set_can_be_replaced_renamed_refielded_or_deleted(
    db: Session, project: Project, engineer: User, tmp_path: Path
) -> None:
    eval_set = _humaneval(db, project, engineer)
    _humaneval(db, project, engineer, name="taken")
    rows = [{"question": "2+2?", "answer": "4", "id": 1}, {"question": "3+3?", "answer": "6"}]
    # No fields given on a re-upload: the set keeps its own (which this file lacks).
    with pytest.raises(Invalid, match="no record has the field 'prompt'"):
        service.replace_items(db, eval_set, path=_jsonl(tmp_path / "gsm.jsonl", rows))
    assert service.item_count(db, eval_set) == 164
    service.replace_items(
        db, eval_set, path=_jsonl(tmp_path / "gsm.jsonl", rows), fields=["question", "answer"]
    )
    assert service.item_count(db, eval_set) == 2
    assert eval_set.text_fields == ["question", "answer"]
    items, _, _ = service.items(db, eval_set)
    assert [i.text for i in items] == ["2+2?\n4", "3+3?\n6"]

    service.update(db, eval_set, name="gsm8k", text_fields=["answer"])
    assert eval_set.name == "gsm8k" and eval_set.text_fields == ["answer"]
    items, _, _ = service.items(db, eval_set)
    assert [i.text for i in items] == ["4", "6"]
    with pytest.raises(Conflict, match="already has a version 1"):
        service.update(db, eval_set, name="taken")
    with pytest.raises(Invalid, match="'missing'"):
        service.update(db, eval_set, text_fields=["missing"])
    assert eval_set.name == "gsm8k" and eval_set.text_fields == ["answer"]
    db.commit()

    service.delete(db, eval_set)
    db.commit()
    assert db.get(EvalSet, eval_set.id) is None
    left = db.scalar(select(func.count()).select_from(EvalItem).where(
        EvalItem.eval_set_id == eval_set.id))  # fmt: skip
    assert left == 0
