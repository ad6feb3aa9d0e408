"""Import limits, checked while streaming: no upload can exhaust the worker's memory or disk
(point 3 of the hardening issue), and a bad row is one bad row (point 7)."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.formats.limits import ImportLimits, record_problem
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import Example, Project

SMALL = ImportLimits(
    max_decompressed_bytes=1 << 20,
    max_line_bytes=64 << 10,
    max_field_chars=16 << 10,
    max_depth=8,
    max_rows=1000,
    max_rejects_kept=5,
)


def _row(n: int) -> str:
    return json.dumps({"prompt": f"question {n}", "completion": f"answer {n}"}) + "\n"


def _run(  # type: ignore[no-untyped-def]
    db: Session,
    project: Project,
    path: Path,
    limits: ImportLimits = SMALL,
    rejects: Path | None = None,
    **opts: object,
):
    options = ImportOptions(format="prompt_completion", **opts)  # type: ignore[arg-type]
    return import_file(db, project_id=project.id, path=path, options=options, user_id=None,
                       limits=limits, rejects_path=rejects)  # fmt: skip


def _examples(db: Session, project: Project) -> int:
    return db.scalar(select(func.count()).where(Example.project_id == project.id)) or 0


def test_a_line_over_the_limit_is_one_bad_row_read_in_pieces(
    db: Session, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "long.jsonl.gz"
    huge = json.dumps({"prompt": "x" * (4 << 20), "completion": "y"}) + "\n"
    with gzip.open(path, "wt") as out:
        out.write(_row(1) + huge + _row(3))
    limits = dataclasses.replace(SMALL, max_decompressed_bytes=1 << 30)
    summary = _run(db, project, path, limits, skip_invalid=True)
    assert (summary.rows, summary.invalid, summary.examples) == (3, 1, 2)
    assert (
        summary.errors[0].number == 2 and "TRELLIS_IMPORT_MAX_LINE_BYTES" in summary.errors[0].error
    )


def test_decompressed_size_is_capped_while_reading(
    db: Session, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write("{}\n" * 2_000_000)  # 6 MB of rows from a ~10 KB file
    assert path.stat().st_size < 100_000
    with pytest.raises(Invalid, match="TRELLIS_IMPORT_MAX_DECOMPRESSED_BYTES") as caught:
        _run(db, project, path, dataclasses.replace(SMALL, max_rows=10**9), skip_invalid=True)
    assert str(tmp_path) not in caught.value.message
    assert _examples(db, project) == 0
    assert not list(tmp_path.glob("*.rejects.jsonl*")) or all(
        p.stat().st_size < 10_000 for p in tmp_path.glob("*.rejects.jsonl*")
    )


def test_rejects_are_all_counted_and_the_first_n_kept(
    db: Session, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "empty-objects.jsonl"
    path.write_text(_row(0) + "{}\n" * 50)
    rejects = tmp_path / "rejects.jsonl"
    summary = _run(db, project, path, rejects=rejects, skip_invalid=True)
    assert summary.invalid == 50 and summary.examples == 1
    assert len(rejects.read_text().splitlines()) == SMALL.max_rejects_kept


def test_rows_per_upload_are_capped(db: Session, project: Project, tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("".join(_row(n) for n in range(SMALL.max_rows + 1)))
    with pytest.raises(Invalid, match=r"more than 1,000 rows \(TRELLIS_IMPORT_MAX_ROWS\)"):
        _run(db, project, path)
    assert _examples(db, project) == 0


def test_nul_deep_nesting_and_long_fields_are_bad_rows_that_keep_the_good_ones(
    db: Session, project: Project, tmp_path: Path
) -> None:
    deep: object = "leaf"
    for _ in range(20):
        deep = [deep]
    very_deep = "[" * 200_000 + "]" * 200_000  # past Python's own recursion limit
    lines = [
        _row(1),
        json.dumps({"prompt": "nul \u0000 here", "completion": "a"}) + "\n",
        json.dumps({"prompt": "deep", "completion": "a", "meta": deep}) + "\n",
        '{"prompt": "surrogate \\udc80", "completion": "a"}\n',
        json.dumps({"prompt": "long", "completion": "z" * (20 << 10)}) + "\n",
        '{"prompt": "deeper", "completion": "a", "meta": ' + very_deep + "}\n",
        _row(7),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(lines))
    limits = dataclasses.replace(SMALL, max_line_bytes=1 << 20)
    summary = _run(db, project, path, limits, skip_invalid=True)
    assert summary.examples == 2 and summary.invalid == 5
    messages = {e.number: e.error for e in summary.errors}
    assert "NUL" in messages[2] and "nested deeper than 8" in messages[3]
    assert "lone surrogate" in messages[4] and "longer than" in messages[5]
    assert "nested too deeply" in messages[6] or "nested deeper" in messages[6]
    # Strict, the same file names the bad lines and imports nothing.
    with pytest.raises(Invalid, match="5 invalid rows"):
        _run(db, project, path, limits)


def test_a_json_array_element_over_the_limit_stops_with_a_message(
    db: Session, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "array.json"
    path.write_text(json.dumps([{"prompt": "p", "completion": "x" * (3 << 20)}]))
    with pytest.raises(Invalid, match="TRELLIS_IMPORT_MAX_LINE_BYTES"):
        _run(db, project, path, dataclasses.replace(SMALL, max_field_chars=1 << 30))


def test_record_problem_walks_keys_and_depth() -> None:
    assert record_problem({"a": [{"b": "ok"}]}, SMALL) is None
    assert record_problem({"a\u0000": 1}, SMALL) == (
        "*",
        "a key holds a NUL character or a lone surrogate",
    )
    assert record_problem({"m": [{"content": "\u0000"}]}, SMALL) == (
        "m.0.content",
        "text holds a NUL character",
    )
