"""Migration 0014 widens the CHECK on item `source` without rebuilding the item tables: a
rebuild on SQLite DROPs them with foreign keys on, which cascade-deletes every selection item,
contamination flag and diversity score of the examples. Both directions keep those rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import make_engine
from app.migrate import alembic_config, upgrade
from app.models import Example, ItemStatus, Project, Selection, SelectionItem, Source


def feedback_revision(config) -> str:  # type: ignore[no-untyped-def]
    """This migration's id, found by its file name (the chain is renumbered at merges)."""
    scripts = ScriptDirectory.from_config(config)
    (found,) = [r.revision for r in scripts.walk_revisions() if r.path.endswith("_feedback.py")]
    return found


def test_source_check_changes_in_place_both_ways(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as db:
        project = Project(slug="p", name="p")
        db.add(project)
        db.flush()
        for n, source in enumerate((Source.imported, Source.feedback)):
            db.add(Example(project_id=project.id, source=source, status=ItemStatus.submitted,
                           messages=[{"role": "user", "content": f"q{n}"}],
                           content_hash=f"{n}" * 64))  # fmt: skip
        db.flush()
        selection = Selection(project_id=project.id, name="kept")
        db.add(selection)
        db.flush()
        for example in db.scalars(select(Example)):
            db.add(SelectionItem(selection_id=selection.id, example_id=example.id))
        db.commit()
    engine.dispose()

    def count(db: Session) -> int:
        return int(db.scalar(select(func.count()).select_from(SelectionItem)) or 0)

    config = alembic_config(url)
    command.downgrade(config, f"{feedback_revision(config)}-1")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM selection_items")) == 2
        sources = conn.scalars(text("SELECT source FROM examples ORDER BY id")).all()
        assert sources == ["imported", "imported"]
        with pytest.raises(IntegrityError):  # the narrower CHECK is in force
            conn.execute(text("UPDATE examples SET source = 'feedback'"))
    engine.dispose()

    command.upgrade(config, "head")
    engine = make_engine(url)
    with Session(engine) as db:
        assert count(db) == 2
        db.execute(text("UPDATE examples SET source = 'feedback'"))
        with pytest.raises(IntegrityError):
            db.execute(text("UPDATE examples SET source = 'bogus'"))
        db.rollback()
        assert db.scalar(text("PRAGMA integrity_check")) == "ok"
    engine.dispose()
