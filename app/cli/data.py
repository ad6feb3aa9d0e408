"""`trellis import|export|stats`: data in and out of a project, from the command line."""

from pathlib import Path
from typing import Annotated

import typer

from app.cli.base import (
    app,
    fail,
    upgrade_database,
)
from app.config import get_settings
from app.models import ItemStatus, Source


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
        raise fail(f"{file}: no such file or directory", 2)
    upgrade_database()
    with session_scope() as db:
        target = repository.by_slug(db, project)
        if target is None:
            raise fail(f"project '{project}' not found")
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
        raise fail(exc.message) from exc
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
            "sharegpt, alpaca, text or kto (rated feedback)",
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
    bos_in_text: Annotated[
        bool, typer.Option(help="text: keep the BOS in the text (trainers that do not add it)")
    ] = False,
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
            raise fail(str(exc)) from exc
        custom = {"name": loaded.name[:64], "source": loaded.source,
                  "bos_token": loaded.bos_token, "eos_token": loaded.eos_token}  # fmt: skip
    upgrade_database()
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
                "bos_in_text": bos_in_text,
            }
        )
    except ValidationError as exc:
        raise fail(
            "; ".join(f"--{'-'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from exc
    try:
        with session_scope() as db:
            target = repository.by_slug(db, project)
            if target is None:
                raise fail(f"project '{project}' not found")
            snapshot_id = exports.new_snapshot(db, target, None, data).id
        # Written in a read-only transaction, recorded in a short write transaction: a server
        # running on the same SQLite database keeps working meanwhile.
        with session_scope() as db:
            outcome = exports.write_files(
                db, snapshot_id, settings.export_dir, tokenizer_path=settings.tokenizer_path
            )
        with session_scope(write=True) as db:
            snapshot = exports.record(db, outcome)
            state, gates, directory = snapshot.state, snapshot.gates or [], snapshot.directory
    except AppError as exc:
        raise fail(exc.message) from exc
    for gate in gates:
        typer.echo(f"  [{gate['status']:>11}] {gate['name']}: {gate['summary']}")
    if state != "ready" or directory is None:
        raise fail(f"export {snapshot_id} is {state}: a quality gate blocks it")
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

    upgrade_database()
    try:
        with session_scope() as db:
            result = service.stats(db, service.get(db, project))
    except AppError as exc:
        raise fail(exc.message) from exc
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    for kind, counts in (("examples", result.examples), ("pairs", result.pairs)):
        typer.echo(f"{kind}: {counts['total']['all']:,}")
        for group in ("status", "source"):
            typer.echo(
                "  " + group + ": " + ", ".join(f"{k} {v:,}" for k, v in counts[group].items())
            )
