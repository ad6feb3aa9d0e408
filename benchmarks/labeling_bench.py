"""50 simulated annotators labeling 100,000 examples in PostgreSQL through the real HTTP API.

Seeds a fresh database (100,000 pending examples, 50 annotators), starts Trellis under uvicorn
in its own processes, vacuums the loaded tables once the slots exist (as autovacuum would long
before annotators arrive), logs every annotator in through the login form (cookie session + CSRF
header, as the browser does) and drives them concurrently with an asyncio HTTP client through
"next item" + "submit" for `--seconds`, each annotator pausing 0.5-1.5 x `--think-ms` (default
2 s: a very fast human; real labeling takes 10-60 s an item) between receiving an item and
submitting it. Then, as a capacity figure, the same annotators with no pause at all for
`--saturation-seconds`. Prints p50/p95/p99 latency per request kind, throughput and errors for
both, then checks the database: every acknowledged label is stored exactly once, no item was
handed to two annotators at once, and no item holds more labels than the project asks for.
The goal (p99 <= 150 ms, no errors, nothing lost or duplicated) is judged on the first run.

    .venv/bin/python -m benchmarks.labeling_bench [--rows 100000] [--annotators 50]
        [--seconds 60] [--think-ms 2000] [--saturation-seconds 30] [--server-workers 2]

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
from sqlalchemy import func, select, text

from app.db import make_engine, make_session_factory, session_scope
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.migrate import upgrade
from app.models import ItemKind, ItemStatus, Label, LabelState, Project, Role
from app.projects import members
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from benchmarks.import_bench import DEFAULT_URL, build_rows, reset_database

BENCH_URL = DEFAULT_URL.replace("trellis_bench", "trellis_label_bench")
PASSWORD = "labeling benchmark password"
SLUG = "bench"
GOAL_P99_MS = 150.0
WARM_UP_S = 5.0
SERVER_KEEP_ALIVE_S = 15
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
                members.set_member(db, project, Role.engineer, _email(n), Role.annotator)
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
            "--log-level", "warning", "--no-access-log",
            "--timeout-keep-alive", str(SERVER_KEEP_ALIVE_S)]  # fmt: skip
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


@dataclass
class Annotator:
    email: str
    client: httpx.AsyncClient
    headers: dict[str, str]


async def sign_in(base: str, email: str) -> Annotator:
    # The client drops idle connections well before the server does: reusing one the server
    # is closing at that very moment fails with "server disconnected" (it did once in CI,
    # after annotators waited idle through the others' sign-in).
    limits = httpx.Limits(keepalive_expiry=SERVER_KEEP_ALIVE_S / 3)
    client = httpx.AsyncClient(base_url=base, timeout=30, follow_redirects=False, limits=limits)
    csrf = await login(client, email)
    return Annotator(email, client, {"X-CSRF-Token": csrf})


async def annotator(
    who: Annotator, deadline: float, think_s: float, tally: Tally, seed: int
) -> None:
    rng = random.Random(seed)
    client, headers = who.client, who.headers
    if think_s:
        # People don't all press "next" in the same millisecond: start within one pause.
        await asyncio.sleep(rng.uniform(0, think_s))
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            response = await client.post(
                f"/api/projects/{SLUG}/queue/examples/next", headers=headers
            )
        except httpx.TransportError as exc:  # counted, not fatal: the run still reports
            tally.errors[f"next {type(exc).__name__}"] += 1
            continue
        tally.latencies["next"].append(time.perf_counter() - started)
        if response.status_code == 204:
            tally.emptied += 1
            return
        if response.status_code != 200:
            tally.errors[f"next {response.status_code}"] += 1
            continue
        item = response.json()["item"]
        tally.handed[item["id"]].append(who.email)
        if think_s:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
        body = {"version": item["version"], "messages": None, "rating": rng.randint(1, 5),
                "tags": [], "note": ""}  # fmt: skip
        started = time.perf_counter()
        try:
            response = await client.post(
                f"/api/projects/{SLUG}/labels/examples/{item['id']}/submit",
                json=body,
                headers=headers,
            )
        except httpx.TransportError as exc:
            tally.errors[f"submit {type(exc).__name__}"] += 1
            continue
        tally.latencies["submit"].append(time.perf_counter() - started)
        if response.status_code == 200:
            tally.acked.append((who.email, item["id"]))
        else:
            tally.errors[f"submit {response.status_code}"] += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k] * 1000


def settle(url: str) -> None:
    """VACUUM ANALYZE the freshly loaded tables, as autovacuum does soon after a bulk load:
    otherwise it does so in the middle of the measured run, on the same two CPUs."""
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM (ANALYZE) examples, label_slots, labels"))
    engine.dispose()


async def run_all(
    url: str, base: str, annotators: int, seconds: float, think_ms: float, saturation_s: float
) -> tuple[Tally, tuple[Tally, float], tuple[Tally, float] | None]:
    # Everyone signs in (argon2, deliberately slow) before any clock starts; one extra
    # annotator claims first (the first claim creates the 100,000 slots in bulk), the tables
    # are vacuumed, then the team works for WARM_UP_S unmeasured so that every server process
    # has served these routes.
    warm = await sign_in(base, _email(annotators))
    await annotator(warm, time.perf_counter() + 2.0, 0.0, Tally(), seed=-1)
    await asyncio.to_thread(settle, url)
    team = [await sign_in(base, _email(n)) for n in range(annotators)]
    try:
        warmed, _ = await drive(team, WARM_UP_S, 0.0)
        first = await drive(team, seconds, think_ms)
        second = await drive(team, saturation_s, 0.0) if saturation_s > 0 else None
    finally:
        for who in (warm, *team):
            await who.client.aclose()
    return warmed, first, second


async def drive(team: list[Annotator], seconds: float, think_ms: float) -> tuple[Tally, float]:
    tally = Tally()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(annotator(who, deadline, think_ms / 1000, tally, seed=n) for n, who in enumerate(team))
    )
    return tally, time.perf_counter() - started


def report(title: str, tally: Tally, elapsed: float) -> tuple[float, int]:
    """Prints one run's figures; returns its p99 over every request and its error count."""
    print(f"\n{title}, {elapsed:.1f} s")
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
          f"{len(tally.acked) / elapsed:,.1f} labels/s ({len(tally.acked):,} labels)")  # fmt: skip
    errors = sum(tally.errors.values())
    print(f"  errors: {errors} {dict(tally.errors) if errors else ''}".rstrip())
    if tally.emptied:
        print(f"  {tally.emptied} annotators ran out of items before the end")
    return p99, errors


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
    parser.add_argument("--think-ms", type=float, default=2000.0,
                        help="mean pause between receiving and submitting an item")  # fmt: skip
    parser.add_argument("--saturation-seconds", type=float, default=30.0,
                        help="then run with no pause for this long (0: skip)")  # fmt: skip
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
            warmed, (tally, elapsed), saturated = asyncio.run(
                run_all(args.database_url, base, args.annotators, args.seconds, args.think_ms,
                        args.saturation_seconds)
            )  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    everything = Tally(acked=tally.acked + (saturated[0].acked if saturated else []))
    everything.acked += warmed.acked
    for part in (warmed, tally, *([saturated[0]] if saturated else [])):
        for item_id, who in part.handed.items():
            everything.handed[item_id] += who
    checks = verify(args.database_url, everything, args.annotators)

    print(f"\n{args.annotators} annotators against {args.rows:,} examples in PostgreSQL; "
          f"{args.server_workers} uvicorn workers and the client share "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    p99, errors = report(
        f"1. each annotator pauses {args.think_ms * 0.5 / 1000:g}-{args.think_ms * 1.5 / 1000:g} s"
        " per item",
        tally,
        elapsed,
    )
    if saturated:
        report("2. capacity: no pause at all", *saturated)
    print()
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
    print(f"\ngoal (run 1) p99 <= {GOAL_P99_MS:.0f} ms, no errors, no lost or duplicated "
          f"label: {'PASS' if ok else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    main()
