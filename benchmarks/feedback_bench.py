"""Feedback import rate beside the plain example import of the same rows, in one run.

    .venv/bin/python -m benchmarks.feedback_bench [--rows 20000] [--database-url URL]

Builds a thumbs up/down log (two rated answers per prompt, from the Alpaca sample), imports it
with `trellis feedback import`'s code path, and imports the same rows as prompt/completion
examples with `trellis import`'s code path, each into a fresh project of the same database
(a temporary SQLite file unless --database-url names one). Then pairs the feedback. Prints
rows/s for each and our share of the plain import's rate.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from app.db import make_engine, make_session_factory, session_scope
from app.feedback import service as feedback
from app.feedback.importer import import_feedback
from app.feedback.schemas import FeedbackImportOptions, PairOptions
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.migrate import upgrade
from app.models import Role
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alpaca_5000.json"


def build_logs(n: int, folder: Path) -> tuple[Path, Path]:
    """n feedback rows (prompt, response, rating, id) and the same n rows as prompt/completion."""
    base = json.loads(SAMPLE.read_text())
    feedback_path, plain_path = folder / "feedback.jsonl", folder / "plain.jsonl"
    with feedback_path.open("w") as fb, plain_path.open("w") as plain:
        for i in range(n):
            row = base[(i // 2) % len(base)]
            prompt = f"{row['instruction']} (session {i // (2 * len(base))})"
            answer = row["output"].strip() or "I do not know."
            response = answer if i % 2 == 0 else f"Sorry, I cannot help with that. ({i})"
            rating = "up" if i % 2 == 0 else "down"
            fb.write(json.dumps({"id": f"evt-{i}", "prompt": prompt, "response": response,
                                 "rating": rating}) + "\n")  # fmt: skip
            plain.write(json.dumps({"prompt": prompt, "completion": response}) + "\n")
    return feedback_path, plain_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        feedback_path, plain_path = build_logs(args.rows, folder)
        with session_scope(factory) as db:
            user = users.create_user(db, email=f"bench-{time.time_ns()}@example.com",
                                     password="benchmark password", role=Role.engineer)  # fmt: skip
            suffix = str(time.time_ns())[-8:]
            plain_id = projects.create(db, user, ProjectCreate(slug=f"plain-{suffix}")).id
            feedback_id = projects.create(db, user, ProjectCreate(slug=f"fb-{suffix}")).id

        started = time.perf_counter()
        with session_scope(factory) as db:
            plain = import_file(db, project_id=plain_id, path=plain_path,
                                options=ImportOptions(), user_id=None)  # fmt: skip
        plain_s = time.perf_counter() - started

        started = time.perf_counter()
        with session_scope(factory) as db:
            ours = import_feedback(db, project_id=feedback_id, path=feedback_path,
                                   options=FeedbackImportOptions())  # fmt: skip
        ours_s = time.perf_counter() - started

        started = time.perf_counter()
        with session_scope(factory, write=True) as db:
            paired = feedback.pair_feedback(db, feedback_id, None, PairOptions())
        pair_s = time.perf_counter() - started
        engine.dispose()
    if plain.examples != args.rows or ours.imported != args.rows:
        raise SystemExit(f"expected {args.rows} rows each: {plain} / {ours}")
    print(f"database: {url.split('://')[0]}; {args.rows:,} rows")
    print(f"plain import (prompt/completion):  {args.rows / plain_s:>10,.0f} rows/s "
          f"({plain_s:.2f} s)")  # fmt: skip
    print(f"feedback import (rated responses): {args.rows / ours_s:>10,.0f} rows/s "
          f"({ours_s:.2f} s) = {plain_s / ours_s:.0%} of the plain import's rate")  # fmt: skip
    print(f"pairing: {paired.pairs_created:,} pairs from {paired.prompts:,} prompts in "
          f"{pair_s:.2f} s ({args.rows / pair_s:,.0f} rated responses/s)")  # fmt: skip


if __name__ == "__main__":
    main()
