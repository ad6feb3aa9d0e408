"""`trellis serve|worker`: the web server, its built-in workers, and standalone workers."""

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli.base import app, fail, upgrade_database
from app.cli.builtin_workers import BuiltInWorkers, ServerLock, worker_argv
from app.config import get_settings
from app.jobs.registry import LONG, SHORT


@app.command("worker")
def worker(
    concurrency: Annotated[int | None, typer.Option(help="worker processes")] = None,
    beat: Annotated[
        bool, typer.Option(help="also run the reaper schedule (one per deployment)")
    ] = True,
    queues: Annotated[
        str,
        typer.Option(
            help="queues to take jobs from: 'short' (imports, exports, bulk actions), "
            "'long' (contamination, diversity) or both"
        ),
    ] = f"{SHORT},{LONG}",
) -> None:
    """Start a Celery worker for Trellis jobs."""
    settings = get_settings()
    argv = worker_argv(
        settings, concurrency or settings.worker_concurrency, beat=beat, queues=queues,
        name=f"trellis-{os.getpid()}",
    )  # fmt: skip
    os.execv(sys.executable, argv)  # noqa: S606 - replace this process with the worker


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    with_worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="start workers beside the server")
    ] = True,
) -> None:
    """Run the web server (and, by default, Celery workers beside it)."""
    import uvicorn

    from app.db import session_scope
    from app.main import create_app
    from app.users import service

    settings = get_settings()
    lock = ServerLock(settings.data_dir)
    if settings.embedded and (held := lock.acquire()) is not None:
        raise fail(f"{held}; stop it first, or start this one with another TRELLIS_DATA_DIR")
    settings.effective_secret_key()  # create it before the workers start, so all share it
    upgrade_database()
    with session_scope() as db:
        empty = not service.has_users(db)
    mode = "embedded (SQLite + SQLite broker)" if settings.embedded else "production"
    typer.echo(f"Trellis {mode}; database {settings.effective_database_url}")
    if empty:
        typer.secho(
            "No users yet. Create the first admin in another terminal, from this folder:\n"
            f"  {_trellis_command()} user create --email you@example.com --role admin",
            fg=typer.colors.YELLOW,
        )
    workers = BuiltInWorkers(settings) if with_worker else None
    if workers is not None:
        for pid in workers.stop_leftovers():
            typer.secho(f"stopped worker {pid}, left running by an earlier server", fg="yellow")
        workers.start()
    # uvicorn re-raises the signal that stopped it once it has shut down; SIGTERM's default
    # action would end this process there, before the workers are stopped below.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=True)
    finally:
        if workers is not None:
            workers.stop()
        lock.release()


def _trellis_command() -> str:
    """How to run `trellis` from the current folder: `.venv/bin/trellis` after `make run`."""
    script = Path(sys.executable).parent / "trellis"
    if not script.exists():
        return "trellis"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
