"""Importing feedback logs: every container and shape, mapping, errors, limits, dedupe."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.formats.limits import ImportLimits
from app.models import FeedbackEntry, Project
from tests.factories import write_jsonl
from tests.feedback.helpers import LOG, run_import, write


def entries(db: Session, project: Project) -> list[FeedbackEntry]:
    return list(
        db.scalars(
            select(FeedbackEntry)
            .where(FeedbackEntry.project_id == project.id)
            .order_by(FeedbackEntry.id)
        )
    )


@pytest.mark.parametrize("container", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("compress", [False, True])
def test_every_container_and_shape(
    db: Session, project: Project, tmp_path: Path, container: str, compress: bool
) -> None:
    path = write(tmp_path / "log", LOG, container, compress)
    summary = run_import(db, project, path)
    assert (summary.rows, summary.responses, summary.imported, summary.invalid) == (7, 8, 8, 0)
    assert (summary.up, summary.down, summary.neutral) == (4, 3, 1)
    rows = entries(db, project)
    by_log = {(e.log_id, e.response): e for e in rows}
    assert by_log[("e1", "Paris.")].label is True
    assert by_log[("e2", "Lyon.")].label is False
    assert by_log[("e5", "Hello.")].label is None and by_log[("e5", "Hello.")].score == 3
    multi = by_log[("e6", "4")]
    assert [m["role"] for m in multi.prompt] == ["user", "assistant", "user"]
    assert by_log[("e7", "Blue.")].label is True and by_log[("e7", "Seven.")].label is False
    assert by_log[("e1", "Paris.")].prompt_key == by_log[("e2", "Lyon.")].prompt_key
    assert rows[0].file == path.name and rows[0].line >= 1


def test_reimport_adds_nothing(db: Session, project: Project, tmp_path: Path) -> None:
    path = write(tmp_path / "log", LOG, "jsonl", False)
    run_import(db, project, path)
    again = run_import(db, project, path)
    assert again.imported == 0 and again.duplicates_skipped == 8
    assert len(entries(db, project)) == 8


def test_mapping_of_other_field_names(db: Session, project: Project, tmp_path: Path) -> None:
    records = [{"q": "Hi?", "a": "Hello.", "feedback": {"thumb": "thumbs_up"}, "event": 9}]
    path = write_jsonl(tmp_path / "other.jsonl", records)
    with pytest.raises(Invalid) as err:
        run_import(db, project, path)
    assert "line 1, field prompt" in err.value.message
    summary = run_import(
        db, project, path, fields={"prompt": "q", "response": "a",
                                   "rating": "feedback.thumb", "id": "event"}
    )  # fmt: skip
    assert summary.imported == 1
    (entry,) = entries(db, project)
    assert (entry.log_id, entry.label, entry.response) == ("9", True, "Hello.")


def test_strict_import_is_all_or_nothing_and_lists_every_bad_line(
    db: Session, project: Project, tmp_path: Path
) -> None:
    bad = [
        *LOG[:2],
        {"prompt": "x", "response": "y", "rating": "meh"},
        {"prompt": "x", "response": "y"},
        *LOG[2:],
    ]
    path = tmp_path / "bad.jsonl"
    write_jsonl(path, bad)
    with path.open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(Invalid) as err:
        run_import(db, project, path)
    problems = err.value.details["errors"]
    assert [(p["number"], p["field"]) for p in problems[:2]] == [(3, "rating"), (4, "rating")]
    assert problems[2]["number"] == 10
    assert "bad.jsonl" in err.value.message and "line 3, field rating" in err.value.message
    assert entries(db, project) == []


def test_skip_invalid_keeps_the_good_rows_and_writes_rejects(
    db: Session, project: Project, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "some.jsonl", [LOG[0], {"prompt": "x", "response": "y", "rating": 9}, LOG[1]]
    )
    rejects = tmp_path / "rejects.jsonl"
    summary = run_import(db, project, path, skip_invalid=True, rejects_path=rejects)
    assert (summary.imported, summary.invalid) == (2, 1)
    assert summary.errors[0].number == 2 and summary.errors[0].field == "rating"
    assert '"rating":9' in rejects.read_text()


def test_limits_and_unreadable_files(db: Session, project: Project, tmp_path: Path) -> None:
    path = write(tmp_path / "log", LOG, "jsonl", False)
    with pytest.raises(Invalid, match="more than 3 rows"):
        run_import(db, project, path, limits=ImportLimits(max_rows=3))
    long = write_jsonl(tmp_path / "long.jsonl", [{**LOG[0], "response": "x" * 50}])
    with pytest.raises(Invalid, match="longer than 10 characters"):
        run_import(db, project, long, limits=ImportLimits(max_field_chars=10))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(Invalid, match="empty"):
        run_import(db, project, empty)
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(write(tmp_path / "full", LOG * 50, "jsonl", True).read_bytes()[:-30])
    with pytest.raises(Invalid, match=r"cut\.jsonl\.gz"):
        run_import(db, project, truncated)
    assert db.scalar(select(func.count()).select_from(FeedbackEntry)) == 0


def test_plain_import_refuses_the_feedback_source(
    db: Session, project: Project, tmp_path: Path
) -> None:
    from app.imports.schemas import ImportOptions
    from app.imports.service import import_file
    from app.models import Source

    path = write_jsonl(tmp_path / "plain.jsonl", [{"prompt": "q", "completion": "a"}])
    with pytest.raises(Invalid, match="feedback import"):
        import_file(db, project_id=project.id, path=path, user_id=None,
                    options=ImportOptions(source=Source.feedback))  # fmt: skip
