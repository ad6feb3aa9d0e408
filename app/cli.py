"""`trellis`: serve, worker, db, user, token, project, import, stats.

Every command reads the same TRELLIS_* configuration as the server; with none set it works on
the embedded SQLite database under ./trellis-data/.
"""

import contextlib
import getpass
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.config import get_settings
from app.models import ItemStatus, Role, Source

app = typer.Typer(help="Trellis: curate the data LLM fine-tuning runs on.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts.", no_args_is_help=True)
project_app = typer.Typer(help="Projects.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(project_app, name="project")
check_app = typer.Typer(help="Checks on files, with no server or database.", no_args_is_help=True)
app.add_typer(check_app, name="check")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _upgrade() -> None:
    from app.migrate import upgrade

    upgrade(get_settings().effective_database_url)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the configured database."""
    _upgrade()
    typer.echo("database is at the latest schema")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="login email")],
    role: Annotated[Role, typer.Option(help="admin, engineer, reviewer or annotator")],
) -> None:
    """Create a user. The password is read from stdin (piped) or asked for twice."""
    from app.db import session_scope
    from app.errors import AppError
    from app.users import service

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise _fail("passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    _upgrade()
    try:
        with session_scope() as db:
            user = service.create_user(db, email=email, password=password, role=role)
            typer.echo(f"created {user.role.value} {user.email} (id {user.id})")
    except AppError as exc:
        raise _fail(exc.message) from exc


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="the token acts as this user")],
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
) -> None:
    """Create an API token; the secret is printed once."""
    from app.db import session_scope
    from app.users import repository, service

    with session_scope() as db:
        user = repository.by_email(db, email)
        if user is None:
            raise _fail(f"no user with email {email}")
        _, secret = service.create_token(db, user, name)
    typer.echo(secret)


@project_app.command("create")
def project_create(
    slug: str,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    owner: Annotated[str | None, typer.Option(help="email of the engineer who owns it")] = None,
) -> None:
    """Create a project (owned by --owner, else by the first admin)."""
    from pydantic import ValidationError

    from app.db import session_scope
    from app.errors import AppError
    from app.models import User
    from app.projects import service
    from app.projects.schemas import ProjectCreate
    from app.users import repository

    _upgrade()
    try:
        data = ProjectCreate(slug=slug, name=name or slug)
    except ValidationError as exc:
        raise _fail(f"slug '{slug}': use lowercase letters, digits and dashes") from exc
    try:
        with session_scope() as db:
            user: User | None
            if owner:
                user = repository.by_email(db, owner)
                if user is None:
                    raise _fail(f"no user with email {owner}")
            else:
                user = next((u for u in repository.all_users(db) if u.role is Role.admin), None)
                if user is None:
                    raise _fail("no admin yet: run `trellis user create --role admin` first")
            project = service.create(db, user, data)
            typer.echo(f"created project {project.slug} (owner {user.email})")
    except AppError as exc:
        raise _fail(exc.message) from exc


@app.command("import")
def import_command(
    project: Annotated[str, typer.Argument(help="project slug")],
    file: Annotated[Path, typer.Argument(help="JSONL, JSON, CSV, Parquet, .gz, or a datasets dir")],
    format: Annotated[
        str | None, typer.Option("--format", help="record shape; auto-detected")
    ] = None,
    source: Annotated[Source, typer.Option(help="provenance of the rows")] = Source.imported,
    generator: Annotated[
        str | None, typer.Option(help="model that generated synthetic rows")
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="import valid rows, write the rest to a rejects file"),
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="rejects file (default FILE.rejects.jsonl)")
    ] = None,
    status: Annotated[
        ItemStatus, typer.Option(help="status of complete rows")
    ] = ItemStatus.submitted,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Import a file into a project (all-or-nothing unless --skip-invalid)."""
    from app.db import session_scope
    from app.errors import AppError
    from app.imports.schemas import ImportOptions
    from app.imports.service import import_file
    from app.projects import repository

    if not file.exists():
        raise _fail(f"{file}: no such file or directory", 2)
    _upgrade()
    with session_scope() as db:
        target = repository.by_slug(db, project)
        if target is None:
            raise _fail(f"project '{project}' not found")
        project_id = target.id
    try:
        options = ImportOptions(
            format=format,
            source=source,
            generator=generator,
            skip_invalid=skip_invalid,
            status=status,
        )
        with session_scope() as db:
            summary = import_file(
                db,
                project_id=project_id,
                path=file,
                options=options,
                user_id=None,
                rejects_path=rejects,
            )
    except AppError as exc:
        raise _fail(exc.message) from exc
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    typer.echo(
        f"{summary.file}: {summary.rows:,} rows ({summary.format}) in {summary.seconds:.2f}s: "
        f"{summary.examples:,} examples ({summary.needs_response:,} need a response), "
        f"{summary.pairs:,} pairs imported; {summary.duplicates_skipped:,} duplicates skipped; "
        f"{summary.invalid:,} invalid"
    )
    for err in summary.errors[:20]:
        typer.echo(f"  {err.unit} {err.number}, field {err.field}: {err.error}")
    if summary.rejects_file:
        typer.echo(f"rejected rows written to {summary.rejects_file}")


@app.command("export")
def export_command(
    project: Annotated[str, typer.Argument(help="project slug")],
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="messages, trl_preference, openai_preference, axolotl, llamafactory, "
            "sharegpt, alpaca or text",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="folder to copy the snapshot's files into")],
    template: Annotated[
        str | None, typer.Option(help="chat template for --format text (default: the project's)")
    ] = None,
    template_file: Annotated[
        Path | None,
        typer.Option(help="a tokenizer_config.json or .jinja to render --format text with"),
    ] = None,
    status: Annotated[str, typer.Option(help="approved or all")] = "approved",
    validation_fraction: Annotated[
        float, typer.Option(help="share of rows in the validation split")
    ] = 0.0,
    seed: Annotated[str, typer.Option(help="split seed")] = "trellis",
    sequence_len: Annotated[int, typer.Option(help="token budget for the length gate")] = 4096,
    container: Annotated[str, typer.Option(help="jsonl, parquet or datasets")] = "jsonl",
) -> None:
    """Write an export snapshot (kept by Trellis, byte-identical later) and copy it to --out."""
    import shutil

    from pydantic import ValidationError

    from app.db import session_scope
    from app.errors import AppError
    from app.exports import service as exports
    from app.exports.chat_templates import TemplateError, load_custom
    from app.exports.schemas import ExportCreate
    from app.projects import repository

    custom = None
    if template_file is not None:
        try:
            loaded = load_custom(template_file)
        except TemplateError as exc:
            raise _fail(str(exc)) from exc
        custom = {"name": loaded.name[:64], "source": loaded.source,
                  "bos_token": loaded.bos_token, "eos_token": loaded.eos_token}  # fmt: skip
    _upgrade()
    settings = get_settings()
    try:
        data = ExportCreate.model_validate(
            {
                "format": format,
                "template": template,
                "status": status,
                "seed": seed,
                "validation_fraction": validation_fraction,
                "sequence_len": sequence_len,
                "container": container,
                "custom_template": custom,
            }
        )
    except ValidationError as exc:
        raise _fail(
            "; ".join(f"--{'-'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from exc
    try:
        with session_scope() as db:
            target = repository.by_slug(db, project)
            if target is None:
                raise _fail(f"project '{project}' not found")
            snapshot_id = exports.new_snapshot(db, target, None, data).id
        with session_scope() as db:
            snapshot = exports.run(
                db, snapshot_id, settings.export_dir, tokenizer_path=settings.tokenizer_path
            )
            state, gates, directory = snapshot.state, snapshot.gates or [], snapshot.directory
    except AppError as exc:
        raise _fail(exc.message) from exc
    for gate in gates:
        typer.echo(f"  [{gate['status']:>11}] {gate['name']}: {gate['summary']}")
    if state != "ready" or directory is None:
        raise _fail(f"export {snapshot_id} is {state}: a quality gate blocks it")
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((settings.export_dir / directory).iterdir()):
        shutil.copy2(path, out / path.name)
    typer.echo(f"export {snapshot_id} written to {out}")


@app.command("stats")
def stats(
    project: Annotated[str, typer.Argument(help="project slug")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Counts of examples and pairs by status and by source."""
    from app.db import session_scope
    from app.errors import AppError
    from app.projects import service

    _upgrade()
    try:
        with session_scope() as db:
            result = service.stats(db, service.get(db, project))
    except AppError as exc:
        raise _fail(exc.message) from exc
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    for kind, counts in (("examples", result.examples), ("pairs", result.pairs)):
        typer.echo(f"{kind}: {counts['total']['all']:,}")
        for group in ("status", "source"):
            typer.echo(
                "  " + group + ": " + ", ".join(f"{k} {v:,}" for k, v in counts[group].items())
            )


def _worker_argv(concurrency: int, beat: bool) -> list[str]:
    settings = get_settings()
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
            "--loglevel", "INFO", "--concurrency", str(concurrency)]  # fmt: skip
    if beat:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", "--schedule", str(settings.data_dir / "celerybeat-schedule")]
    return argv


@app.command("worker")
def worker(
    concurrency: Annotated[int | None, typer.Option(help="worker processes")] = None,
    beat: Annotated[
        bool, typer.Option(help="also run the reaper schedule (one per deployment)")
    ] = True,
) -> None:
    """Start a Celery worker for Trellis jobs."""
    argv = _worker_argv(concurrency or get_settings().worker_concurrency, beat)
    os.execv(sys.executable, argv)  # noqa: S606 - replace this process with the worker


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    with_worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="start a worker beside the server")
    ] = True,
) -> None:
    """Run the web server (and, by default, a Celery worker beside it)."""
    import uvicorn

    from app.db import session_scope
    from app.main import create_app
    from app.users import service

    settings = get_settings()
    settings.effective_secret_key()  # create it before the worker starts, so both share it
    _upgrade()
    with session_scope() as db:
        empty = not service.has_users(db)
    mode = "embedded (SQLite + SQLite broker)" if settings.embedded else "production"
    typer.echo(f"Trellis {mode}; database {settings.effective_database_url}")
    if empty:
        typer.secho(
            "No users yet. Create the first admin in another terminal:\n"
            "  trellis user create --email you@example.com --role admin",
            fg=typer.colors.YELLOW,
        )
    worker_proc = None
    if with_worker:
        # Its own process group: Ctrl+C in the terminal (or a signal to this server's group)
        # must not reach the worker's pool processes directly. Killed under its main process,
        # they leave it hung for good in the pool's exit handler; the worker is stopped below,
        # through its main process, which shuts its pool down in order.
        worker_proc = subprocess.Popen(  # noqa: S603
            _worker_argv(settings.worker_concurrency, beat=True), start_new_session=True
        )
    # uvicorn re-raises the signal that stopped it once it has shut down; SIGTERM's default
    # action would end this process there, before the worker is stopped below.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=True)
    finally:
        if worker_proc is not None:
            _stop_worker(worker_proc)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (finish the running tasks) for up to 30 s, then kill whatever is left of
    the worker's process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@check_app.command("contamination")
def check_contamination(
    train: Annotated[Path, typer.Option("--train", help="training data, any import format")],
    eval_files: Annotated[
        list[Path], typer.Option("--eval", help="an eval set (JSONL, CSV, ...); repeatable")
    ],
    out: Annotated[Path, typer.Option("--out", help="report: one JSON object per flag")],
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="eval text field (repeatable); default: every string field"),
    ] = None,
    embeddings: Annotated[
        bool, typer.Option("--embeddings/--no-embeddings", help="look for paraphrases too")
    ] = True,
    model: Annotated[
        str | None, typer.Option(help="sentence-transformers model directory (default MiniLM)")
    ] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="check the readable rows of a bad TRAIN file")
    ] = False,
) -> None:
    """Find eval items copied, edited, embedded or paraphrased in a training file."""
    import json

    from app.contamination.files import CheckInputError, check_files
    from app.embeddings.encoder import get_encoder

    encoder = get_encoder(model, get_settings().embedding_precision) if embeddings else None
    try:
        summary = check_files(
            train, eval_files, out, encoder, fields=field, skip_bad_rows=skip_bad_rows
        )
    except CheckInputError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(json.dumps(summary, indent=2))


@check_app.command("diversity")
def check_diversity(
    train: Annotated[Path, typer.Option("--train", help="training data, any import format")],
    out: Annotated[Path, typer.Option("--out", help="report: one JSON object")],
    tau: Annotated[
        float, typer.Option(help="diverse subset: keep a row only if its max cosine to kept <= tau")
    ] = 0.9,
    target: Annotated[
        int | None, typer.Option(help="diverse subset size (default: as many as tau allows)")
    ] = None,
    score_field: Annotated[
        str | None,
        typer.Option("--score-field", help="numeric record field ranking rows after rating"),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(help="earlier report to compare with (default: --out if it holds one)"),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="sentence-transformers model directory (default MiniLM)")
    ] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="check the readable rows of a bad TRAIN file")
    ] = False,
) -> None:
    """Scores, near-duplicate groups, clusters and a diverse subset of a training file."""
    import json

    from app.diversity.files import CheckInputError, check_diversity
    from app.embeddings.encoder import get_encoder

    encoder = get_encoder(model, get_settings().embedding_precision)
    try:
        summary = check_diversity(
            train,
            out,
            encoder,
            tau=tau,
            target=target,
            skip_bad_rows=skip_bad_rows,
            score_field=score_field,
            previous=previous,
        )
    except CheckInputError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(json.dumps(summary, indent=2))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
