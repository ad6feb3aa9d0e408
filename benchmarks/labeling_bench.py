"""50 simulated annotators labeling 100,000 examples in PostgreSQL through the real HTTP API.

Seeds a fresh database (100,000 pending examples, 50 annotators), starts Trellis under uvicorn
in its own processes, logs every annotator in through the login form (cookie session + CSRF
header, as the browser does) and drives them concurrently with an asyncio HTTP client through
"next item" + "submit" for `--seconds`. Prints p50/p95/p99 latency per request kind, throughput
and errors, then checks the database: every acknowledged label is stored exactly once, no item
was handed to two annotators at once, and no item holds more labels than the project asks for.

    .venv/bin/python -m benchmarks.labeling_bench [--rows 100000] [--annotators 50]
        [--seconds 60] [--think-ms 0] [--server-workers 2] [--database-url URL]

For scale (not re-run here, from DESIGN.md): Label Studio 1.23's task list answered in 75-93 ms
for one user at 5,000 tasks and 150-174 ms at 100,000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select

from app.db import make_engine, make_session_factory, session_scope
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.migrate import upgrade
from app.models import ItemKind, ItemStatus, Label, LabelState, Project, Role
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from benchmarks.import_bench import DEFAULT_URL, build_rows, reset_database

BENCH_URL = DEFAULT_URL.replace("trellis_bench", "trellis_label_bench")
PASSWORD = "labeling benchmark password"
SLUG = "bench"
GOAL_P99_MS = 150.0
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def seed(url: str, rows: int, annotators: int) -> None:
    reset_database(url)
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        build_rows(rows, path)
        with session_scope(factory) as db:
            owner = users.create_user(
                db, email="owner@example.com", password=PASSWORD, role=Role.engineer
            )
            project = projects.create(db, owner, ProjectCreate(slug=SLUG))
            project_id = project.id
            for n in range(annotators + 1):  # the last one warms the server up
                users.create_user(db, email=_email(n), password=PASSWORD, role=Role.annotator)
                db.flush()
                projects.set_member(db, project, _email(n), Role.annotator)
        with session_scope(factory) as db:
            import_file(db, project_id=project_id, path=path, user_id=None,
                        options=ImportOptions(status=ItemStatus.draft))  # fmt: skip
    engine.dispose()


def _email(n: int) -> str:
    return f"annotator{n:03d}@example.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, workers: int, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "TRELLIS_DATABASE_URL": url,
        "TRELLIS_DATA_DIR": str(data_dir),
        "TRELLIS_SECRET_KEY": "labeling-benchmark-secret-key-0123456789",
    }
    argv = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log"]  # fmt: skip
    proc = subprocess.Popen(argv, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"uvicorn exited with {proc.returncode}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("uvicorn did not answer /healthz within 60 s")


async def login(client: httpx.AsyncClient, email: str) -> str:
    page = await client.get("/login")
    token = _CSRF.search(page.text)
    assert token, "the login page carries a CSRF token"
    response = await client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code in (200, 303), response.text[:300]
    home = await client.get("/projects")
    found = _CSRF.search(home.text)
    assert found, f"{email} is not logged in"
    return found.group(1)


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    acked: list[tuple[str, int]] = field(default_factory=list)  # (email, item id) answered 200
    handed: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    emptied: int = 0


async def annotator(
    base: str, email: str, deadline: float, think_s: float, tally: Tally, seed: int
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30, follow_redirects=False) as client:
        csrf = await login(client, email)
        headers = {"X-CSRF-Token": csrf}
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.post(
                f"/api/projects/{SLUG}/queue/examples/next", headers=headers
            )
            tally.latencies["next"].append(time.perf_counter() - started)
            if response.status_code == 204:
                tally.emptied += 1
                return
            if response.status_code != 200:
                tally.errors[f"next {response.status_code}"] += 1
                continue
            item = response.json()["item"]
            tally.handed[item["id"]].append(email)
            if think_s:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
            body = {"version": item["version"], "messages": None, "rating": rng.randint(1, 5),
                    "tags": [], "note": ""}  # fmt: skip
            started = time.perf_counter()
            response = await client.post(
                f"/api/projects/{SLUG}/labels/examples/{item['id']}/submit",
                json=body,
                headers=headers,
            )
            tally.latencies["submit"].append(time.perf_counter() - started)
            if response.status_code == 200:
                tally.acked.append((email, item["id"]))
            else:
                tally.errors[f"submit {response.status_code}"] += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k] * 1000


async def drive(base: str, annotators: int, seconds: float, think_ms: float) -> tuple[Tally, float]:
    # Warm up: one extra annotator claims first, so the first claim's slot creation and every
    # worker's imports happen before the clock starts.
    warm = Tally()
    await annotator(base, _email(annotators), time.perf_counter() + 2.0, 0.0, warm, seed=-1)
    tally = Tally()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(annotator(base, _email(n), deadline, think_ms / 1000, tally, seed=n)
          for n in range(annotators))
    )  # fmt: skip
    return tally, time.perf_counter() - started


def verify(url: str, tally: Tally, annotators: int) -> dict[str, int]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with session_scope(factory) as db:
        project = db.scalar(select(Project).where(Project.slug == SLUG))
        assert project is not None
        stored = db.execute(
            select(Label.item_id, Label.user_id, Label.state).where(
                Label.project_id == project.id, Label.item_kind == ItemKind.example.value
            )
        ).all()
        emails = {u.id: u.email for u in users.list_users(db)}
        per_item = Counter(r.item_id for r in stored if r.state == LabelState.submitted)
        overfull = sum(1 for c in per_item.values() if c > project.min_submissions)
        submitted = {
            (emails[r.user_id], r.item_id) for r in stored if r.state == LabelState.submitted
        }
        labels_total = db.scalar(
            select(func.count()).select_from(Label).where(Label.project_id == project.id)
        )
    engine.dispose()
    acked = set(tally.acked)
    benchmark_users = {_email(n) for n in range(annotators)}
    return {
        "acknowledged": len(tally.acked),
        "acknowledged twice": len(tally.acked) - len(acked),
        "lost (acknowledged, not stored)": len(acked - submitted),
        "stored without acknowledgement": len(
            {s for s in submitted if s[0] in benchmark_users} - acked
        ),
        "items handed to two annotators": sum(
            1 for who in tally.handed.values() if len(set(who)) > 1
        ),
        "items over min_submissions": overfull,
        "label rows": int(labels_total or 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think-ms", type=float, default=0.0,
                        help="mean pause between next and submit (0: no pause)")  # fmt: skip
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--database-url", default=BENCH_URL)
    parser.add_argument("--no-seed", action="store_true", help="reuse the seeded database")
    args = parser.parse_args()

    if not args.no_seed:
        started = time.perf_counter()
        seed(args.database_url, args.rows, args.annotators)
        print(f"seeded {args.rows:,} pending examples and {args.annotators} annotators "
              f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_server(args.database_url, args.server_workers, Path(tmp))
        try:
            tally, elapsed = asyncio.run(drive(base, args.annotators, args.seconds, args.think_ms))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    checks = verify(args.database_url, tally, args.annotators)

    print(f"\n{args.annotators} annotators, {elapsed:.1f} s, think time {args.think_ms:g} ms, "
          f"{args.server_workers} uvicorn workers, "
          f"{os.cpu_count()} CPUs shared with the client")  # fmt: skip
    every: list[float] = []
    for kind in ("next", "submit"):
        values = tally.latencies[kind]
        every += values
        print(f"  {kind:<7} n={len(values):>6}  p50 {percentile(values, 50):6.1f} ms  "
              f"p95 {percentile(values, 95):6.1f} ms  p99 {percentile(values, 99):6.1f} ms  "
              f"max {max(values, default=0) * 1000:6.1f} ms")  # fmt: skip
    p99 = percentile(every, 99)
    print(f"  all     n={len(every):>6}  p50 {percentile(every, 50):6.1f} ms  "
          f"p95 {percentile(every, 95):6.1f} ms  p99 {p99:6.1f} ms  "
          f"mean {statistics.fmean(every) * 1000 if every else float('nan'):6.1f} ms")  # fmt: skip
    print(f"  throughput: {len(every) / elapsed:,.0f} requests/s, "
          f"{len(tally.acked) / elapsed:,.0f} labels/s ({len(tally.acked):,} labels)")  # fmt: skip
    errors = sum(tally.errors.values())
    print(f"  errors: {errors} {dict(tally.errors) if errors else ''}".rstrip())
    if tally.emptied:
        print(f"  {tally.emptied} annotators ran out of items before the end")
    for name, value in checks.items():
        print(f"  check: {name}: {value}")
    print(
        "  for scale: Label Studio 1.23 task list, one user: 75-93 ms at 5k tasks, "
        "150-174 ms at 100k (DESIGN.md; not re-run here)"
    )
    bad = sum(checks[name] for name in ("acknowledged twice", "lost (acknowledged, not stored)",
                                        "items handed to two annotators",
                                        "items over min_submissions"))  # fmt: skip
    ok = p99 <= GOAL_P99_MS and errors == 0 and bad == 0
    print(f"\ngoal p99 <= {GOAL_P99_MS:.0f} ms, no errors, no lost or duplicated label: "
          f"{'PASS' if ok else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    main()
