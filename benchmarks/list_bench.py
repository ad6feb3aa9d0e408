"""Example-list API latency at 100,000 examples in PostgreSQL, through the real app (TestClient,
bearer token, policy, service, serialisation), against OFFSET pagination of the same query run
in the same process as the baseline.

    .venv/bin/python benchmarks/list_bench.py [--rows 100000] [--database-url URL] [--repeat 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.db import make_engine, make_session_factory, session_scope
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.main import create_app
from app.migrate import upgrade
from app.models import Example, Role
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from benchmarks.import_bench import DEFAULT_URL, build_rows, reset_database


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm up
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _p50_p95(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.1f} {statistics.quantiles(samples, n=20)[18]:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database-url", default=DEFAULT_URL.replace("trellis_bench", "trellis_list_bench")
    )
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    reset_database(args.database_url)
    upgrade(args.database_url)
    engine = make_engine(args.database_url)
    factory = make_session_factory(engine)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        build_rows(args.rows, path)
        with session_scope(factory) as db:
            user = users.create_user(
                db, email="b@example.com", password="benchmark password", role=Role.engineer
            )
            project_id = projects.create(db, user, ProjectCreate(slug="bench")).id
            _, secret = users.create_token(db, user, "bench")
        with session_scope(factory) as db:
            import_file(db, project_id=project_id, path=path, options=ImportOptions(), user_id=None)
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        settings = Settings(data_dir=Path(tmp), secret_key="bench", database_url=args.database_url)
        client = TestClient(create_app(settings, factory))
        headers = {"Authorization": f"Bearer {secret}"}
        url = "/api/projects/bench/examples"

        def page(**params: str | int) -> Any:
            response = client.get(url, params=params, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()

        # a cursor deep in the list: the 80,000th example
        deep_cursor = page(limit=500)["next_cursor"]
        for _ in range(159):
            deep_cursor = page(limit=500, after=deep_cursor)["next_cursor"]
        cases = {
            "first page (newest)": lambda: page(limit=50),
            "page at row 80,000 (cursor)": lambda: page(limit=50, after=deep_cursor),
            "status=submitted": lambda: page(limit=50, status="submitted"),
            "sort=updated": lambda: page(limit=50, sort="updated"),
            "text search 'photosynthesis'": lambda: page(limit=50, q="photosynthesis"),
        }
        print(f"examples in project: {args.rows:,}; {args.repeat} requests each; milliseconds")
        print(f"{'case':34} {'p50':>7} {'p95':>7}")
        for name, fn in cases.items():
            samples = timed(fn, args.repeat)
            print(f"{name:34} {_p50_p95(samples)}")

        def offset_page() -> None:
            with factory() as db:
                db.execute(
                    select(Example).where(Example.project_id == project_id)
                    .order_by(Example.id.desc()).offset(80_000).limit(50)
                ).all()  # fmt: skip

        samples = timed(offset_page, args.repeat)
        print(f"{'baseline: OFFSET 80,000 (SQL only)':34} {_p50_p95(samples)}")
        print("for scale: Label Studio 1.23's task list answered in 150-174 ms at 100k tasks here")
    engine.dispose()


if __name__ == "__main__":
    main()
