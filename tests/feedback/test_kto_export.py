"""The `kto` export format: rows from rated feedback, paired or not, through the same snapshot,
manifest and gates as every format, and loaded with TRL's KTO data handling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.exports import service
from app.exports.schemas import ExportCreate
from app.feedback import service as feedback
from app.feedback.schemas import PairOptions
from app.models import Project
from tests.exports.test_rows import load_jsonl, tokenizer
from tests.factories import write_jsonl
from tests.feedback.helpers import LOG, run_import, write


def export(db: Session, project: Project, root: Path, **params: Any):  # type: ignore[no-untyped-def]
    snapshot = service.new_snapshot(db, project, None, ExportCreate(format="kto", **params))
    db.commit()
    return service.run(db, snapshot.id, root)


def rows_of(root: Path, snapshot) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    path = root / snapshot.directory / "kto_train.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_kto_rows_from_rated_responses_paired_or_not(
    db: Session, project: Project, tmp_path: Path
) -> None:
    conflicting = [
        {"prompt": "Tell a joke", "response": "Knock knock.", "rating": "up"},
        {"prompt": "Tell a joke", "response": "knock  knock.", "rating": "down"},
    ]
    run_import(db, project, write(tmp_path / "log", LOG, "jsonl", False))
    run_import(db, project, write_jsonl(tmp_path / "c.jsonl", conflicting))
    feedback.pair_feedback(db, project.id, None, PairOptions())
    root = tmp_path / "exports"
    snapshot = export(db, project, root)
    assert snapshot.state == "ready", snapshot.gates
    rows = rows_of(root, snapshot)
    got = {(r["prompt"][-1]["content"], r["completion"][0]["content"], r["label"]) for r in rows}
    assert got == {
        ("Capital of France?", "Paris.", True),
        ("capital of  france?", "Lyon.", False),
        ("Say hi", "Hi!", True),
        ("Say hi", "Go away.", False),
        ("2+2?", "4", True),  # never paired: still a KTO row
        ("Name a colour", "Blue.", True),
        ("Name a colour", "Seven.", False),
    }  # the 3/5 answer and the joke rated both ways are left out
    multi = next(r for r in rows if r["completion"][0]["content"] == "4")
    assert [m["role"] for m in multi["prompt"]] == ["user", "assistant", "user"]
    manifest = snapshot.manifest
    assert manifest["format"] == "kto"
    assert manifest["counts"]["kto"]["train"] == {"feedback": 7}
    assert any("rated production feedback" in note for note in manifest["notes"])
    gates = {g["name"]: g["status"] for g in snapshot.gates}
    assert gates["empty_assistant"] == "pass" and gates["real_data"] == "pass"
    items = (root / snapshot.directory / "items.jsonl").read_text().splitlines()
    assert len(items) == 7 and json.loads(items[0])["kind"] == "kto"

    # TRL's data helpers, as KTOTrainer._prepare_dataset applies them to a conversational
    # unpaired dataset (trl 1.16; the trainer module itself is left out: importing it costs
    # another ~20 s of transformers' Trainer).
    from trl.data_utils import (
        _tokenize,
        is_conversational,
        maybe_apply_chat_template,
        maybe_unpair_preference_dataset,
    )

    dataset = load_jsonl(tmp_path, rows, "kto")
    assert set(dataset.column_names) == {"prompt", "completion", "label"}
    assert maybe_unpair_preference_dataset(dataset).num_rows == len(rows)  # already unpaired
    tok = tokenizer()
    for example in dataset:
        assert is_conversational(example)
        text = maybe_apply_chat_template(example, tok)
        assert text["prompt"].endswith("<|im_start|>assistant\n")
        assert text["completion"].startswith(example["completion"][0]["content"])
        assert text["label"] is example["label"]
        prompt_ids = _tokenize(tok, example["prompt"], add_generation_prompt=True)["input_ids"]
        full_ids = _tokenize(tok, example["prompt"] + example["completion"])["input_ids"]
        assert full_ids[: len(prompt_ids)] == prompt_ids and len(full_ids) > len(prompt_ids)
    assert dataset["label"] == [r["label"] for r in rows]


def test_kto_export_filters(db: Session, project: Project, tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="tags and selections"):
        service.new_snapshot(db, project, None, ExportCreate(format="kto", tags=["x"]))
    run_import(db, project, write(tmp_path / "log", LOG, "jsonl", False))
    other = export(db, project, tmp_path / "exports", source="human")
    assert other.state == "blocked"
    assert other.gates[0]["name"] == "not_empty"
