"""Contamination checks in the app: runs split into chunk jobs, flags, incremental re-checks,
re-check after an edit, dismiss/drop, and what exports do with flags."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.contamination import flags as flag_service
from app.contamination import overview as overviews
from app.contamination import service
from app.errors import Invalid
from app.evalsets import service as evalsets
from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.exports import service as exports
from app.exports.schemas import ExportCreate
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import (
    ContaminationChecked,
    ContaminationFlag,
    EvalIndexBlob,
    Example,
    FlagStatus,
    ItemKind,
    ItemStatus,
    Job,
    Project,
    Revision,
    User,
)
from tests.factories import SHARED_DATA

MMLU = SHARED_DATA / "mmlu_sociology_test.csv"
RunJobs = Callable[[], list[int]]


def _question(n: int) -> list[str]:
    with MMLU.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))[n]


@pytest.fixture
def setup(
    db: Session, project: Project, engineer: User, tmp_path: Path, settings: Settings,
    run_jobs: RunJobs,
) -> dict[str, int]:  # fmt: skip
    """60 clean Alpaca examples, one copying MMLU question 12, one paraphrasing nothing; a
    frozen MMLU eval set whose index the worker has built."""
    alpaca = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())[:60]
    q = _question(12)
    rows = [*alpaca, {"instruction": q[0] + "\n" + "\n".join(q[1:5]), "input": "", "output": q[3]}]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_file(db, project_id=project.id, path=path, user_id=engineer.id,
                options=ImportOptions(status=ItemStatus.approved),
                rejects_path=tmp_path / "rejects.jsonl")  # fmt: skip
    eval_path = tmp_path / "mmlu40.csv"  # 40 questions keep the worker's encoding short
    with MMLU.open(newline="", encoding="utf-8") as src, eval_path.open("w", newline="") as dst:
        csv.writer(dst).writerows(list(csv.reader(src))[:40])
    eval_set = evalsets.create_from_file(db, project, engineer, name="mmlu", path=eval_path)
    evalsets.freeze(db, eval_set, engineer)
    db.commit()
    run_jobs()  # eval_index
    copied = db.scalar(select(Example.id).where(Example.messages.is_not(None))
                       .order_by(Example.id.desc()).limit(1))  # fmt: skip
    assert copied is not None
    return {"eval_set": eval_set.id, "copied": copied}


def _check(db: Session, project: Project, user: User | None, run_jobs: RunJobs, **kw: object):  # type: ignore[no-untyped-def]
    run = service.start_check(db, project, user, **kw)  # type: ignore[arg-type]
    db.commit()
    run_jobs()
    db.refresh(run)
    return run


def test_freeze_precomputes_the_index(db: Session, setup: dict[str, int]) -> None:
    blob = db.get(EvalIndexBlob, setup["eval_set"])
    assert blob is not None and blob.model_id.startswith("all-MiniLM-L6-v2/")
    assert len(blob.data) > 10_000


def test_check_flags_the_copy_and_only_it(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs
) -> None:
    run = _check(db, project, engineer, run_jobs)
    assert run.finished_at is not None and run.total == 61 and run.done == 61
    flags = list(db.scalars(select(ContaminationFlag)))
    assert [(f.example_id, f.method) for f in flags] == [(setup["copied"], "minhash")]
    flag = flags[0]
    assert flag.jaccard is not None and flag.jaccard > 0.9 and flag.cosine is not None
    assert flag.spans["train"] and flag.spans["eval"]
    start, end = flag.spans["train"][0]
    text = "\n".join(m["content"] for m in db.get(Example, setup["copied"]).messages)  # type: ignore[union-attr]
    assert _question(12)[0].split()[0] in text[start:end]
    assert db.scalar(select(func.count()).select_from(ContaminationChecked)) == 61


def test_runs_are_split_into_chunks_and_closed_once(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(service, "CHUNK_SIZE", 10)
    run = _check(db, project, engineer, run_jobs)
    chunk_jobs = list(db.scalars(select(Job).where(Job.kind == service.CHUNK_JOB)))
    assert len(chunk_jobs) == 7
    closers = [j for j in chunk_jobs if j.result and j.result.get("closed_run")]
    assert len(closers) == 1
    assert run.done == run.total == 61 and run.flags == 1


def test_a_second_check_touches_nothing_and_an_edit_rechecks_one_item(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs
) -> None:
    _check(db, project, engineer, run_jobs)
    again = _check(db, project, engineer, run_jobs)
    assert again.total == 0 and again.finished_at is not None
    # The copy is rewritten in the annotator's own words: the edit queues a check of it alone.
    example = db.get(Example, setup["copied"])
    assert example is not None
    clean = [{"role": "user", "content": "Name three sociologists of the media."},
             {"role": "assistant", "content": "Adorno, Hall and McLuhan."}]  # fmt: skip
    examples.update(db, project, example.id, engineer,
                    ExampleUpdate(version=example.version, messages=clean))  # fmt: skip
    db.commit()
    run_jobs()
    latest = overviews.overview(db, project).runs[0]
    assert latest.total == 1 and latest.finished_at is not None
    assert db.scalar(select(func.count()).select_from(ContaminationFlag)) == 0
    assert overviews.overview(db, project).changed_since == 0


def test_dismissal_is_audited_and_sticks_until_the_text_changes(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs
) -> None:
    _check(db, project, engineer, run_jobs)
    flag = db.scalars(select(ContaminationFlag)).one()
    with pytest.raises(Invalid):
        flag_service.dismiss(db, project, flag.id, engineer, "  ")
    flag_service.dismiss(db, project, flag.id, engineer, "our own paraphrase, licensed")
    db.commit()
    assert flag.status is FlagStatus.dismissed and flag.resolved_by_id == engineer.id
    audit = db.scalars(select(Revision).where(Revision.action == "contamination_dismiss")).one()
    assert audit.after["reason"] == "our own paraphrase, licensed"
    full = _check(db, project, engineer, run_jobs, full=True)
    assert full.total == 61
    flags = list(db.scalars(select(ContaminationFlag)))
    assert [f.status for f in flags] == [FlagStatus.dismissed]  # not re-opened


def test_drop_rejects_the_item(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs
) -> None:
    _check(db, project, engineer, run_jobs)
    flag = db.scalars(select(ContaminationFlag)).one()
    flag_service.drop_item(db, project, flag.id, engineer)
    db.commit()
    assert db.get(Example, setup["copied"]).status is ItemStatus.rejected  # type: ignore[union-attr]
    assert flag.status is FlagStatus.dropped


def test_overview_counts(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs
) -> None:
    before = overviews.overview(db, project)
    assert before.changed_since == 61 and before.last_run is None
    _check(db, project, engineer, run_jobs)
    view = overviews.overview(db, project)
    assert view.examples == 61 and view.changed_since == 0 and view.open_flags == 1
    (one,) = view.sets
    assert one.checked_examples == 61 and one.open_by_method["minhash"] == 1
    assert view.last_run is not None


def test_exports_leave_flagged_items_out_and_gate_on_checks(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs,
    tmp_path: Path,
) -> None:  # fmt: skip
    root = tmp_path / "exports"

    def export(**params: object):  # type: ignore[no-untyped-def]
        snap = exports.new_snapshot(db, project, None, ExportCreate(format="messages", **params))  # type: ignore[arg-type]
        db.commit()
        snap = exports.run(db, snap.id, root)
        db.commit()
        return snap, {g["name"]: g for g in snap.gates}

    snap, gates = export(dry_run=True)
    assert gates["contamination"]["status"] == "warn"  # nothing checked yet
    _check(db, project, engineer, run_jobs)
    snap, gates = export()
    assert snap.state == "ready" and gates["contamination"]["status"] == "pass"
    assert "1 flagged rows left out" in gates["contamination"]["summary"]
    assert snap.manifest["counts"]["sft"]["train"]["imported"] == 60
    snap, gates = export(exclude_flagged=False)
    assert snap.state == "blocked" and gates["contamination"]["status"] == "block"
    assert gates["contamination"]["items"] == [setup["copied"]]


def test_check_needs_a_frozen_set(db: Session, project: Project, engineer: User) -> None:
    with pytest.raises(Invalid, match="freeze an eval set"):
        service.start_check(db, project, engineer)


def test_kinds_cover_pairs_too(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs,
    tmp_path: Path,
) -> None:  # fmt: skip
    q = _question(12)
    pair = {"prompt": q[0] + " " + " ".join(q[1:5]), "chosen": q[3], "rejected": q[1]}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(pair) + "\n")
    import_file(db, project_id=project.id, path=path, user_id=engineer.id,
                options=ImportOptions(), rejects_path=tmp_path / "r.jsonl")  # fmt: skip
    db.commit()
    _check(db, project, engineer, run_jobs)
    kinds = sorted(f.item_kind.value for f in db.scalars(select(ContaminationFlag)))
    assert kinds == [ItemKind.example.value, ItemKind.pair.value]


def test_a_failed_chunk_job_marks_the_run_as_failed(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise Invalid("the eval index is unreadable")

    monkeypatch.setattr(service, "prepare_chunk", broken)
    run = _check(db, project, engineer, run_jobs)
    assert run.finished_at is None
    assert flag_service.run_failure(db, run) == "the eval index is unreadable"
    view = overviews.overview(db, project)
    assert view.running is None and view.failures == {run.id: "the eval index is unreadable"}


def test_an_import_queues_a_check_of_the_new_items(
    db: Session, project: Project, engineer: User, setup: dict[str, int], run_jobs: RunJobs,
    tmp_path: Path,
) -> None:  # fmt: skip
    from app.imports.uploads import start_import

    _check(db, project, engineer, run_jobs)
    q = _question(5)
    path = tmp_path / "more.jsonl"
    path.write_text(json.dumps({"instruction": q[0], "input": "", "output": q[1]}) + "\n")
    start_import(db, project, engineer, path, "more.jsonl", ImportOptions())
    db.commit()
    run_jobs()
    latest = overviews.overview(db, project).runs[0]
    assert latest.total == 1 and latest.finished_at is not None and latest.flags == 1
