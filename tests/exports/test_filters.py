"""Export filters: tags (all of), source and minimum rating, on both database backends."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.exports import service
from app.exports.schemas import ExportCreate
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import Example, ItemStatus, Project


def test_tag_source_and_rating_filters(db: Session, project: Project, tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"prompt": f"q{i}", "completion": "a"}) for i in range(6)))
    import_file(db, project_id=project.id, path=path, user_id=None,
                options=ImportOptions(status=ItemStatus.approved))  # fmt: skip
    rows = list(
        db.scalars(select(Example).where(Example.project_id == project.id).order_by(Example.id))
    )
    rows[0].tags, rows[0].rating = ["math", "easy"], 5
    rows[1].tags, rows[1].rating = ["math"], 2
    rows[2].tags, rows[2].rating = ["easy"], 4
    db.commit()

    def exported(**filters: object) -> list[int]:
        snapshot = service.new_snapshot(
            db, project, None, ExportCreate(format="messages", **filters)
        )  # type: ignore[arg-type]
        db.commit()
        snapshot = service.run(db, snapshot.id, tmp_path / "exports")
        db.commit()
        if snapshot.state != "ready":
            return []
        items = (tmp_path / "exports" / snapshot.directory / "items.jsonl").read_text().splitlines()
        return [json.loads(line)["id"] for line in items]

    assert exported(tags=["math"]) == [rows[0].id, rows[1].id]
    assert exported(tags=["math", "easy"]) == [rows[0].id]
    assert exported(min_rating=4) == [rows[0].id, rows[2].id]
    assert exported(source="synthetic") == []
    assert len(exported()) == 6
