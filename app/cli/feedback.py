"""`trellis feedback import|pair`: production feedback into preference pairs and KTO rows."""

from pathlib import Path
from typing import Annotated

import typer

from app.cli.base import app, fail, upgrade_database

feedback_app = typer.Typer(
    help="Production feedback: rated responses -> pairs.", no_args_is_help=True
)
app.add_typer(feedback_app, name="feedback")

_NAMES = "field names in the file, as FIELD=NAME (prompt, messages, response, rating, "
_NAMES += "responses, choice, id); default: the project's remembered names"


def _project_id(slug: str) -> int:
    from app.db import session_scope
    from app.projects import repository

    with session_scope() as db:
        target = repository.by_slug(db, slug)
        if target is None:
            raise fail(f"project '{slug}' not found")
        return target.id


@feedback_app.command("import")
def import_command(
    project: Annotated[str, typer.Argument(help="project slug")],
    file: Annotated[Path, typer.Argument(help="JSONL, CSV, Parquet, or a .gz of one")],
    field: Annotated[list[str] | None, typer.Option("--field", help=_NAMES)] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="import valid rows, list the rest")
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="rejects file (default FILE.rejects.jsonl)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Import a feedback log (all-or-nothing unless --skip-invalid); --field names are
    remembered for the project."""
    from pydantic import ValidationError

    from app.db import session_scope
    from app.errors import AppError
    from app.feedback import service
    from app.feedback.importer import import_feedback
    from app.feedback.schemas import FeedbackImportOptions, FieldNames
    from app.models import Project

    if not file.exists():
        raise fail(f"{file}: no such file or directory", 2)
    given: dict[str, str] = {}
    for item in field or []:
        key, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise fail(f"--field {item!r}: expected FIELD=NAME, e.g. --field prompt=question", 2)
        given[key.strip()] = value.strip()
    unknown = set(given) - set(FieldNames.model_fields)
    if unknown:
        raise fail(f"--field: unknown field {sorted(unknown)[0]!r}", 2)
    upgrade_database()
    project_id = _project_id(project)
    try:
        names = FieldNames.model_validate(given) if given else None
    except ValidationError as exc:
        raise fail(
            "; ".join(f"--field {e['loc'][0]}: {e['msg']}" for e in exc.errors()), 2
        ) from exc
    try:
        with session_scope(write=True) as db:
            target = db.get(Project, project_id)
            assert target is not None
            options = FeedbackImportOptions(
                fields=service.resolve_mapping(db, target, names), skip_invalid=skip_invalid
            )
            if names is not None:
                service.remember_mapping(db, target, names)
        with session_scope() as db:
            summary = import_feedback(
                db, project_id=project_id, path=file, options=options, rejects_path=rejects
            )
    except AppError as exc:
        raise fail(exc.message) from exc
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    typer.echo(
        f"{summary.file}: {summary.rows:,} rows, {summary.responses:,} rated responses "
        f"({summary.up:,} up, {summary.down:,} down, {summary.neutral:,} neutral) in "
        f"{summary.seconds:.2f}s: {summary.imported:,} imported, "
        f"{summary.duplicates_skipped:,} already there; {summary.invalid:,} invalid"
    )
    for err in summary.errors[:20]:
        typer.echo(f"  {err.unit} {err.number}, field {err.field}: {err.error}")


@feedback_app.command("pair")
def pair_command(
    project: Annotated[str, typer.Argument(help="project slug")],
    mode: Annotated[
        str, typer.Option(help="all (every up x down, capped) or best_worst (by rating)")
    ] = "all",
    max_per_prompt: Annotated[int, typer.Option(help="cap on pairs per prompt")] = 10,
    with_context: Annotated[
        bool, typer.Option("--with-context", help="match whole conversations, not last turns")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Make preference pairs from rated responses; they wait for review (status submitted)."""
    from pydantic import ValidationError

    from app.db import session_scope
    from app.errors import AppError
    from app.feedback import service
    from app.feedback.schemas import PairOptions

    try:
        options = PairOptions.model_validate(
            {"mode": mode, "max_per_prompt": max_per_prompt, "with_context": with_context}
        )
    except ValidationError as exc:
        raise fail("; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors()), 2) from exc
    upgrade_database()
    project_id = _project_id(project)
    try:
        with session_scope(write=True) as db:
            summary = service.pair_feedback(db, project_id, None, options)
    except AppError as exc:
        raise fail(exc.message) from exc
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    typer.echo(
        f"{summary.prompts:,} prompts, {summary.pairable_prompts:,} with an up and a down: "
        f"{summary.pairs_created:,} pairs created for review, {summary.pairs_existing:,} "
        f"already there, {summary.capped:,} left out by the cap; "
        f"{summary.unpaired_entries:,} rated responses unpaired"
    )
