"""Export N examples from PostgreSQL as `messages` JSONL and as rendered `text`, through the
same service the API and CLI use, beside a baseline run on the same rows: a plain server-side
cursor query + json.dumps to a file. Each run is its own process, so peak RSS is its own.

    .venv/bin/python -m benchmarks.export_bench [--rows 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from app.db import make_engine, make_session_factory, session_scope
from app.exports import service
from app.exports.schemas import ExportCreate
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.migrate import upgrade
from app.models import Example, ItemStatus, Role
from app.projects import repository as projects_repo
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from benchmarks.import_bench import DEFAULT_URL, build_rows, reset_database

BENCH_URL = DEFAULT_URL.replace("trellis_bench", "trellis_export_bench")


def seed(url: str, rows: int) -> None:
    reset_database(url)
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        build_rows(rows, path)
        with session_scope(factory) as db:
            user = users.create_user(
                db, email="x@example.com", password="benchmark password", role=Role.engineer
            )
            project_id = projects.create(db, user, ProjectCreate(slug="bench")).id
        with session_scope(factory) as db:
            import_file(db, project_id=project_id, path=path, user_id=None,
                        options=ImportOptions(status=ItemStatus.approved))  # fmt: skip
    engine.dispose()


def phase(url: str, name: str, out: Path) -> dict[str, float]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    if name == "baseline":
        rows = 0
        with engine.connect() as conn, (out / "baseline.jsonl").open("w") as fh:
            query = select(Example.messages, Example.tools).order_by(Example.id)
            for messages, tools in conn.execution_options(yield_per=2000).execute(query):
                row = {"messages": messages, **({"tools": tools} if tools else {})}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                rows += 1
    else:
        fmt, _, template = name.partition(":")
        with session_scope(factory) as db:
            project = projects_repo.by_slug(db, "bench")
            assert project is not None
            snapshot = service.new_snapshot(
                db, project, None, ExportCreate(format=fmt, template=template or None)
            )
            snapshot_id = snapshot.id
        with session_scope(factory) as db:
            snapshot = service.run(db, snapshot_id, out)
            assert snapshot.state == "ready", snapshot.gates
            rows = snapshot.manifest["files"]["sft_train.jsonl"]["rows"]  # type: ignore[index]
    elapsed = time.perf_counter() - started
    engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": elapsed, "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=BENCH_URL)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.database_url, args.phase, Path(args.out))))
        return
    seed(args.database_url, args.rows)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("baseline", "messages", "text:chatml"):
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.export_bench",
                 "--database-url", args.database_url, "--phase", name, "--out", tmp],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    base = results["baseline"]["rows"] / results["baseline"]["seconds"]
    print(f"examples: {args.rows:,}")
    print(f"{'run':44} {'rows/s':>9} {'vs base':>8} {'peak RSS':>9}")
    labels = {"baseline": "baseline: query + json.dumps to a file",
              "messages": "trellis export, messages JSONL (+manifest)",
              "text:chatml": "trellis export, text rendered with chatml"}  # fmt: skip
    for name, r in results.items():
        rate = r["rows"] / r["seconds"]
        print(f"{labels[name]:44} {rate:9,.0f} {rate / base:8.0%} {r['peak_mb']:7.0f} MB")
    print("goals: >= 20,000 rows/s, >= 50% of the baseline, peak RSS < 300 MB at 1,000,000 rows")


if __name__ == "__main__":
    main()
