"""Everything an export leaves out is named in its manifest with the reason (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session

from app.exports import service
from app.exports.schemas import ExportCreate
from app.models import ItemStatus, Project
from tests.factories import make_example


def test_examples_without_an_answer_are_listed_as_left_out(
    db: Session, project: Project, tmp_path: Path
) -> None:
    kept = [make_example(db, project, status=ItemStatus.approved) for _ in range(3)]
    bare = make_example(
        db, project, [{"role": "user", "content": "Unanswered?"}], status=ItemStatus.approved
    )
    bare.needs_response = True
    pending = make_example(db, project, [{"role": "user", "content": "Pending?"}])
    pending.needs_response = True  # not approved: the filter, not the export, leaves it out
    db.commit()
    snapshot = service.new_snapshot(db, project, None, ExportCreate(format="messages"))
    db.commit()
    snapshot = service.run(db, snapshot.id, tmp_path)
    db.commit()
    assert snapshot.state == "ready", snapshot.error
    manifest = json.loads((tmp_path / snapshot.directory / "manifest.json").read_text())
    rows = (tmp_path / snapshot.directory / "sft_train.jsonl").read_text().splitlines()
    assert len(rows) == len(kept)
    left_out = manifest["left_out"]
    assert left_out["counts"] == {"needs_response": 1}
    assert left_out["items"] == [
        {"kind": "sft", "id": bare.id, "cause": "needs_response",
         "reason": "needs a response: no final assistant turn"}
    ]  # fmt: skip
    assert any("1 examples need a response" in note for note in manifest["notes"])
