"""Import 100,000 Alpaca-shaped rows into PostgreSQL through the CLI's code path, against two
baselines in the same process: COPY of the file's lines into a scratch jsonb table, and COPY of
the very rows we stored into a copy of our own examples table (same columns, indexes and
constraints). Then the same import into SQLite (its own path), for its figure.

    .venv/bin/python benchmarks/import_bench.py [--rows 100000] [--database-url URL]

The database (default postgresql+psycopg://postgres@127.0.0.1:5432/trellis_bench) is created if
missing and its tables are reset. Prints rows/s for each and our share of both COPYs.
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


COLUMNS = (
    "project_id, source, generator, status, split, tags, rating, content_hash, version, "
    "import_job_id, created_at, updated_at, created_by_id, updated_by_id, messages, tools, "
    "needs_response"
)


def run_same_table_copy(url: str) -> tuple[float, int]:
    """COPY the rows our import stored into `examples_copy`: LIKE examples INCLUDING ALL (the
    indexes, defaults, checks) plus the same foreign keys."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE examples_copy (LIKE examples INCLUDING ALL)"))
        keys = conn.execute(
            text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'examples'::regclass AND contype = 'f'"
            )
        ).scalars()
        for definition in list(keys):
            conn.execute(text(f"ALTER TABLE examples_copy ADD {definition}"))
    payload = bytearray()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY examples ({COLUMNS}) TO STDOUT") as out:
            for chunk in out:
                payload += chunk
    started = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY examples_copy ({COLUMNS}) FROM STDIN") as copy:
            view = memoryview(payload)
            for at in range(0, len(view), 1 << 20):
                copy.write(view[at : at + (1 << 20)])
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM examples_copy")).scalar_one())
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
        same_s, same_n = run_same_table_copy(args.database_url)
        copy_s, copy_n = run_copy(args.database_url, path)
        lite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(lite_url)
        lite_s, lite_n = run_trellis(lite_url, path)
    assert ours_n == copy_n == same_n == lite_n == args.rows, (ours_n, copy_n, same_n, lite_n)
    ours, copy, same = ours_n / ours_s, copy_n / copy_s, same_n / same_s
    print(f"rows: {args.rows:,}")
    print(
        f"trellis import (parse, validate, hash, dedupe, insert): {ours_s:6.2f} s "
        f"{ours:9,.0f} rows/s"
    )
    print(
        f"baseline: plain COPY into a scratch jsonb table:        {copy_s:6.2f} s "
        f"{copy:9,.0f} rows/s"
    )
    print(
        f"baseline: COPY of our stored rows into examples' copy: {same_s:6.2f} s "
        f"{same:9,.0f} rows/s"
    )
    print(
        f"SQLite: trellis import (its own path):                 {lite_s:6.2f} s "
        f"{lite_n / lite_s:9,.0f} rows/s"
    )
    met = ours / copy >= 0.40 and ours / same >= 0.70 and ours >= 40_000
    print(
        f"trellis / plain COPY: {ours / copy:.0%}, trellis / same-table COPY: {ours / same:.0%} "
        f"(goal >= 40%, >= 70% and >= 40,000 rows/s): {'PASS' if met else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
