"""Import 100,000 Alpaca-shaped rows into PostgreSQL through the CLI's code path, and COPY the
same rows into a scratch table in the same process as the baseline.

    .venv/bin/python benchmarks/import_bench.py [--rows 100000] [--database-url URL]

The database (default postgresql+psycopg://postgres@127.0.0.1:5432/trellis_bench) is created if
missing and its tables are reset. Prints rows/s for both and our share of COPY.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import make_engine, make_session_factory, session_scope
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.migrate import upgrade
from app.models import Role
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alpaca_5000.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/trellis_bench"


def build_rows(n: int, out: Path) -> None:
    """n distinct Alpaca rows: the sample cycled, each copy's instruction tagged with its index."""
    base = json.loads(SAMPLE.read_text())
    with out.open("w") as fh:
        for i in range(n):
            row = dict(base[i % len(base)])
            if i >= len(base):
                row["instruction"] = f"{row['instruction']} (variant {i // len(base)})"
            fh.write(json.dumps(row) + "\n")


def reset_database(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def run_trellis(url: str, path: Path) -> tuple[float, int]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with session_scope(factory) as db:
        user = users.create_user(
            db, email="bench@example.com", password="benchmark password", role=Role.engineer
        )
        project_id = projects.create(db, user, ProjectCreate(slug="bench")).id
    started = time.perf_counter()
    with session_scope(factory) as db:
        summary = import_file(
            db, project_id=project_id, path=path, options=ImportOptions(), user_id=None
        )
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, summary.examples


def run_copy(url: str, path: Path) -> tuple[float, int]:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE copy_baseline (id bigserial PRIMARY KEY, data jsonb NOT NULL)")
        )
    started = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cur,
            cur.copy("COPY copy_baseline (data) FROM STDIN") as copy,
            path.open() as fh,
        ):
            for line in fh:
                copy.write_row((line.rstrip("\n"),))
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM copy_baseline")).scalar_one())
    engine.dispose()
    return elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alpaca_rows.jsonl"
        build_rows(args.rows, path)
        reset_database(args.database_url)
        upgrade(args.database_url)
        ours_s, ours_n = run_trellis(args.database_url, path)
        copy_s, copy_n = run_copy(args.database_url, path)
    assert ours_n == copy_n == args.rows, (ours_n, copy_n)
    ours, copy = ours_n / ours_s, copy_n / copy_s
    print(f"rows: {args.rows:,}")
    print(
        f"trellis import (parse, validate, hash, dedupe, insert): {ours_s:6.2f} s "
        f"{ours:9,.0f} rows/s"
    )
    print(
        f"baseline: plain COPY into a scratch jsonb table:        {copy_s:6.2f} s "
        f"{copy:9,.0f} rows/s"
    )
    print(f"trellis / COPY: {ours / copy:.0%}   (goal >= 40% and >= 10,000 rows/s)")


if __name__ == "__main__":
    main()
