"""`trellis check contamination|diversity`: checks on files, with no server or database."""

from pathlib import Path
from typing import Annotated

import typer

from app.cli.base import (
    check_app,
    fail,
)
from app.config import get_settings


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
        raise fail(str(exc), 2) from None
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
        raise fail(str(exc), 2) from None
    typer.echo(json.dumps(summary, indent=2))
