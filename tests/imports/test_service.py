"""Import service on the sample data: counts, dedupe, all-or-nothing and --skip-invalid."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import Example, ItemStatus, PreferencePair, Project, Source
from tests.factories import SHARED_DATA

ALPACA = SHARED_DATA / "alpaca_5000.json"
HH = SHARED_DATA / "hh_rlhf_harmless_test.jsonl.gz"


def _import(db: Session, project: Project, path: Path, **options: object):  # type: ignore[no-untyped-def]
    rejects = options.pop("rejects_path", None)
    return import_file(
        db,
        project_id=project.id,
        path=path,
        options=ImportOptions(**options),  # type: ignore[arg-type]
        user_id=None,
        rejects_path=rejects,  # type: ignore[arg-type]
        batch_rows=700,
    )


def _count(
    db: Session, model: type[Example] | type[PreferencePair], project: Project, **where: object
) -> int:
    query = select(func.count()).select_from(model).where(model.project_id == project.id)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return int(db.scalar(query) or 0)


def test_alpaca_import_then_reimport_skips_everything(db: Session, project: Project) -> None:
    first = _import(db, project, ALPACA)
    db.commit()
    assert (first.rows, first.examples, first.pairs, first.invalid) == (5000, 5000, 0, 0)
    assert first.format == "alpaca"
    assert first.needs_response == 2
    assert _count(db, Example, project) == 5000
    drafts = db.scalars(
        select(Example).where(Example.project_id == project.id, Example.needs_response.is_(True))
    ).all()
    assert len(drafts) == 2 and all(d.status is ItemStatus.draft for d in drafts)
    assert _count(db, Example, project, status=ItemStatus.submitted) == 4998
    assert _count(db, Example, project, source=Source.imported) == 5000

    second = _import(db, project, ALPACA)
    db.commit()
    assert (second.examples, second.duplicates_skipped) == (0, 5000)
    assert _count(db, Example, project) == 5000


def test_messages_are_normalised_from_alpaca(db: Session, project: Project) -> None:
    _import(db, project, ALPACA)
    rows = json.loads(ALPACA.read_text())
    first = rows[0]
    example = db.scalars(
        select(Example).where(Example.project_id == project.id).order_by(Example.id)
    ).first()
    assert example is not None
    assert example.messages[0] == {
        "role": "user",
        "content": f"{first['instruction']}\n\n{first['input']}",
    }
    assert example.messages[-1] == {"role": "assistant", "content": first["output"]}


def test_broken_line_37_names_the_line_and_imports_nothing(
    db: Session, project: Project, tmp_path: Path
) -> None:
    lines = [
        json.dumps({"prompt": f"question {i}", "completion": f"answer {i}"}) for i in range(1, 61)
    ]
    lines[36] = '{"prompt": "question 37", "completion": "answer 37"'  # line 37: unterminated
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(Invalid) as info:
        _import(db, project, path)
    assert "line 37" in info.value.message and "broken.jsonl" in info.value.message
    assert [e["number"] for e in info.value.details["errors"]] == [37]
    assert info.value.details["errors"][0]["field"] == "json"
    assert _count(db, Example, project) == 0


def test_hh_strict_import_fails_naming_the_four_lines(db: Session, project: Project) -> None:
    with pytest.raises(Invalid) as info:
        _import(db, project, HH)
    errors = info.value.details["errors"]
    assert [(e["unit"], e["number"]) for e in errors] == [("line", n) for n in (87, 517, 926, 1104)]
    assert all(e["field"] == "chosen" for e in errors)
    for n in (87, 517, 926, 1104):
        assert f"line {n}" in info.value.message
    assert _count(db, PreferencePair, project) == 0


def test_hh_skip_invalid_imports_2308_pairs_and_writes_rejects(
    db: Session, project: Project, tmp_path: Path
) -> None:
    rejects = tmp_path / "hh.rejects.jsonl"
    summary = _import(db, project, HH, skip_invalid=True, rejects_path=rejects)
    db.commit()
    assert summary.format == "hh"
    assert (summary.rows, summary.pairs, summary.invalid) == (2312, 2308, 4)
    assert summary.rejects_file == str(rejects)
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["number"] for r in rejected] == [87, 517, 926, 1104]
    assert all(r["field"] == "chosen" and r["error"] and r["record"]["chosen"] for r in rejected)
    assert _count(db, PreferencePair, project) == 2308


def test_hh_transcripts_that_part_early_keep_multi_turn_responses(
    db: Session, project: Project, tmp_path: Path
) -> None:
    _import(db, project, HH, skip_invalid=True, rejects_path=tmp_path / "rejects.jsonl")
    with gzip.open(HH, "rt") as fh:
        line_1255 = json.loads(fh.readlines()[1254])
    from app.formats import parse_record

    parsed = parse_record(line_1255, "hh")
    pair = db.scalar(
        select(PreferencePair).where(
            PreferencePair.project_id == project.id,
            PreferencePair.content_hash == parsed.content_hash,
        )
    )
    assert pair is not None
    assert len(pair.chosen) > 1 or len(pair.rejected) > 1
    assert pair.prompt[0]["role"] == "user"


def test_synthetic_source_and_generator(db: Session, project: Project, tmp_path: Path) -> None:
    path = tmp_path / "synth.jsonl"
    path.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                ]
            }
        )
        + "\n"
    )
    _import(db, project, path, source=Source.synthetic, generator="llama-3.1-70b")
    example = db.scalar(select(Example).where(Example.project_id == project.id))
    assert example is not None
    assert (example.source, example.generator) == (Source.synthetic, "llama-3.1-70b")


def test_generator_without_synthetic_is_refused(
    db: Session, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    with pytest.raises(Invalid, match="synthetic"):
        _import(db, project, path, generator="gpt")


def test_duplicates_inside_one_file_are_counted_once(
    db: Session, project: Project, tmp_path: Path
) -> None:
    row = json.dumps({"prompt": "same", "completion": "row"})
    path = tmp_path / "dups.jsonl"
    path.write_text(
        "\n".join([row, row, json.dumps({"prompt": "other", "completion": "row"}), row]) + "\n"
    )
    summary = _import(db, project, path)
    assert (summary.examples, summary.duplicates_skipped) == (2, 2)


def test_unknown_format_and_empty_file(db: Session, project: Project, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    with pytest.raises(Invalid, match="unknown format"):
        _import(db, project, path, format="nope")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(Invalid, match=r"empty\.jsonl"):
        _import(db, project, empty)


def test_unknown_role_is_named_with_line_and_field(
    db: Session, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "roles.jsonl"
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "wizard", "content": "a"}]}
    path.write_text("\n".join(json.dumps(r) for r in (good, good | {"tools": []}, bad)) + "\n")
    with pytest.raises(Invalid) as info:
        _import(db, project, path)
    (err,) = info.value.details["errors"]
    assert (err["number"], err["field"]) == (3, "messages[1].role")


def test_awkward_text_survives_the_bulk_path_byte_for_byte(
    db: Session, project: Project, tmp_path: Path
) -> None:
    awkward = 'back\\slash \\N tab\tnew\nline\r\n quote" nul-free ünïcødé 🧪 \\\\ end\\'
    record = {
        "messages": [
            {"role": "system", "content": "\\N"},
            {"role": "user", "content": awkward},
            {"role": "assistant", "content": awkward[::-1]},
        ],
        "tools": [{"type": "function", "function": {"name": "f\tg", "parameters": {}}}],
    }
    path = tmp_path / "awkward.jsonl"
    path.write_text(json.dumps(record) + "\n")
    _import(db, project, path)
    example = db.scalar(select(Example).where(Example.project_id == project.id))
    assert example is not None
    assert example.messages == record["messages"]
    assert example.tools == record["tools"]


def test_duplicates_across_batches_are_counted_once(
    db: Session, project: Project, tmp_path: Path
) -> None:
    """Repeats that fall in different staging batches are still inserted once."""
    rows = [{"prompt": f"q{i % 7}", "completion": "a"} for i in range(30)]
    path = tmp_path / "repeats.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    summary = import_file(
        db, project_id=project.id, path=path, options=ImportOptions(), user_id=None, batch_rows=4
    )
    assert (summary.examples, summary.duplicates_skipped) == (7, 23)
    assert _count(db, Example, project) == 7


def test_failed_strict_import_leaves_nothing_even_after_merged_batches(
    db: Session, project: Project, tmp_path: Path
) -> None:
    lines = [json.dumps({"prompt": f"q{i}", "completion": "a"}) for i in range(40)]
    lines[35] = "{not json"
    path = tmp_path / "late-error.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(Invalid, match="line 36"):
        import_file(
            db,
            project_id=project.id,
            path=path,
            options=ImportOptions(),
            user_id=None,
            batch_rows=4,
        )
    assert _count(db, Example, project) == 0
