"""The composition root of background work: every job kind, the domain service it runs, the
queue it waits on and what its domain records when it fails.

Imported by the worker (workers/tasks.py), the web app and the CLI; the shared `jobs` layer
never imports it, so jobs stays below the domains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.config import get_settings
from app.contamination import service as contamination
from app.db import session_scope, transaction
from app.diversity import service as diversity
from app.errors import AppError, Invalid
from app.eval_runs import execute as evaluation
from app.eval_runs import service as eval_runs
from app.exports import service as exports
from app.feedback import service as feedback
from app.feedback.importer import import_feedback
from app.feedback.schemas import FeedbackImportOptions, PairOptions
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.imports.uploads import IMPORT_JOB, discard
from app.jobs.registry import LONG, register
from app.jobs.runner import JobContext
from app.models import EvalSet, ItemKind, Job, Project
from app.review import bulk as review_bulk
from app.synthetic import service as synthetic
from app.synthetic import worker as synthetic_worker
from app.training_runs import lifecycle as training_lifecycle
from app.training_runs import service as training


def _import_ended(_db: Session, job: Job) -> None:
    """A failed or cancelled import leaves no upload behind (a crash the reaper may retry
    keeps it until the job finally ends)."""
    discard(Path(job.params["path"]))


@register(IMPORT_JOB, on_failure=_import_ended)
def run_import(ctx: JobContext) -> dict[str, Any]:
    if ctx.project_id is None:
        raise Invalid("import job without a project")
    path = Path(ctx.params["path"])
    if not path.exists():
        raise Invalid(f"{ctx.params.get('display_name')}: the uploaded file is gone")
    options = ImportOptions.model_validate(ctx.params["options"])
    try:
        # A fresh session whose first touch of the main database is the final merge.
        with session_scope(ctx.session_factory) as db:
            summary = import_file(
                db,
                project_id=ctx.project_id,
                path=path,
                options=options,
                user_id=ctx.user_id,
                job_id=ctx.job_id,
                display_name=ctx.params.get("display_name"),
                rejects_path=Path(ctx.params["rejects_path"]),
                progress=ctx.progress,
            )
    except AppError:
        discard(path)  # a clear verdict on the file: nothing to retry
        raise
    discard(path)
    _check_new_items(ctx)
    return summary.model_dump(mode="json")


def _check_new_items(ctx: JobContext) -> None:
    """After an import, queue an (incremental) contamination check of the new items when the
    project has frozen eval sets."""
    with session_scope(ctx.session_factory, write=True) as db:
        project = db.get(Project, ctx.project_id)
        if project is not None and contamination.has_frozen_sets(db, project):
            contamination.start_check(db, project, None)


def _export_failed(db: Session, job: Job) -> None:
    exports.mark_failed(
        db, int(job.params["snapshot_id"]), job.error or f"the job was {job.state.value}"
    )


@register(exports.EXPORT_JOB, on_failure=_export_failed)
def run_export(ctx: JobContext) -> dict[str, Any]:
    """Files are written in a read-only transaction; the outcome is stored in a short write
    transaction of its own (see `exports.write_files`)."""
    settings = get_settings()
    snapshot_id = int(ctx.params["snapshot_id"])
    with session_scope(ctx.session_factory) as db:
        outcome = exports.write_files(
            db, snapshot_id, settings.export_dir,
            progress=ctx.progress, tokenizer_path=settings.tokenizer_path,
        )  # fmt: skip
    ctx.progress(0.98, "recording the snapshot", force=True)
    state = transaction(lambda db: exports.record(db, outcome).state, ctx.session_factory)
    return {"snapshot_id": snapshot_id, "state": state}


@register(contamination.INDEX_JOB, queue=LONG)
def run_eval_index(ctx: JobContext) -> dict[str, Any]:
    """Precompute a frozen eval set's signatures, n-gram index and embeddings: computed in a
    read-only transaction, stored in a short second one."""
    encoder = contamination.get_text_encoder()
    with session_scope(ctx.session_factory) as db:
        eval_set = db.get(EvalSet, int(ctx.params["eval_set_id"]))
        if eval_set is None:
            raise Invalid(f"eval set {ctx.params['eval_set_id']} is gone")
        ctx.progress(0.1, "computing signatures and embeddings", force=True)
        built = contamination.compute_index(db, eval_set, encoder)
    with session_scope(ctx.session_factory, write=True) as db:
        contamination.store_index(db, built)
    return {"eval_set_id": built.eval_set_id, "items": len(built.index.items),
            "segments": len(built.index.segments)}  # fmt: skip


@register(contamination.CHECK_JOB, queue=LONG)
def run_contamination_check(ctx: JobContext) -> dict[str, Any]:
    """Plan a check: queue one chunk job per slice of the items that need checking."""
    with session_scope(ctx.session_factory, write=True) as db:
        return contamination.plan_run(db, int(ctx.params["run_id"]), ctx.params)


@register(contamination.CHUNK_JOB, queue=LONG)
def run_contamination_chunk(ctx: JobContext) -> dict[str, Any]:
    encoder = contamination.get_text_encoder()
    with session_scope(ctx.session_factory) as db:
        chunk = contamination.prepare_chunk(
            db,
            int(ctx.params["run_id"]),
            ItemKind(ctx.params["kind"]),
            [int(i) for i in ctx.params["ids"]],
            encoder,
            progress=ctx.progress,
        )
    with session_scope(ctx.session_factory, write=True) as db:
        return contamination.write_chunk(db, chunk)


@register(diversity.PLAN_JOB, queue=LONG)
def run_diversity_plan(ctx: JobContext) -> dict[str, Any]:
    with session_scope(ctx.session_factory, write=True) as db:
        return diversity.plan_run(db, int(ctx.params["run_id"]))


@register(diversity.EMBED_JOB, queue=LONG)
def run_diversity_embed(ctx: JobContext) -> dict[str, Any]:
    encoder = contamination.get_text_encoder()
    with session_scope(ctx.session_factory) as db:
        chunk = diversity.embed_chunk(
            db, int(ctx.params["run_id"]), ItemKind(ctx.params["kind"]),
            [int(i) for i in ctx.params["ids"]], encoder,
        )  # fmt: skip
    with session_scope(ctx.session_factory, write=True) as db:
        return diversity.record_chunk(db, chunk)


@register(diversity.SCORE_JOB, queue=LONG)
def run_diversity_score(ctx: JobContext) -> dict[str, Any]:
    encoder = contamination.get_text_encoder()
    with session_scope(ctx.session_factory) as db:
        scored = diversity.score_run(db, int(ctx.params["run_id"]), encoder, ctx.progress)
    with session_scope(ctx.session_factory, write=True) as db:
        return diversity.record_scores(db, scored)


@register(diversity.RESCORE_JOB, queue=LONG)
def run_diversity_rescore(ctx: JobContext) -> dict[str, Any]:
    encoder = contamination.get_text_encoder()
    with session_scope(ctx.session_factory, write=True) as db:
        return diversity.rescore_item(
            db, int(ctx.params["run_id"]), ItemKind(ctx.params["kind"]),
            int(ctx.params["item_id"]), encoder,
        )  # fmt: skip


@register(review_bulk.BULK_JOB)
def run_review_bulk(ctx: JobContext) -> dict[str, Any]:
    if ctx.project_id is None:
        raise Invalid("bulk review job without a project")
    return review_bulk.run_job(ctx.session_factory, ctx.project_id, ctx.params, ctx.progress)


def _training_submit_failed(db: Session, job: Job) -> None:
    training.mark_failed(
        db, int(job.params["run_id"]), job.error or f"the submit job was {job.state.value}"
    )


@register(training.SUBMIT_JOB, on_failure=_training_submit_failed)
def run_training_submit(ctx: JobContext) -> dict[str, Any]:
    """Hand a training run to its backend (seconds); the poller follows it from then on."""
    return training_lifecycle.submit(int(ctx.params["run_id"]), ctx.session_factory)


def _evaluation_ended(db: Session, job: Job) -> None:
    eval_runs.mark_ended(
        db, int(job.params["run_id"]), job.state.value == "cancelled",
        job.error or f"the evaluation job was {job.state.value}",
    )  # fmt: skip


@register(eval_runs.EVAL_JOB, queue=LONG, on_failure=_evaluation_ended)
def run_evaluation(ctx: JobContext) -> dict[str, Any]:
    """Score a model under test and its baselines chunk by chunk (stored chunks are never
    redone, so a re-queued job resumes), then store the gate report and verdict."""

    def progress(fraction: float, message: str) -> None:
        ctx.progress(fraction, message, force=True)  # once a chunk: where a cancel is seen

    return evaluation.execute(int(ctx.params["run_id"]), ctx.session_factory, progress)


def _synthetic_ended(db: Session, job: Job) -> None:
    state = "cancelled" if job.state.value == "cancelled" else "failed"
    synthetic.mark_ended(db, int(job.params["run_id"]), state, job.error)


@register(synthetic.GENERATE_JOB, queue=LONG, on_failure=_synthetic_ended)
def run_synthetic_generation(ctx: JobContext) -> dict[str, Any]:
    """Generate over an OpenAI-compatible endpoint; cancel stops the requests in flight."""
    return synthetic_worker.run(ctx.session_factory, int(ctx.params["run_id"]), ctx.progress)


@register(feedback.IMPORT_JOB, on_failure=_import_ended)
def run_feedback_import(ctx: JobContext) -> dict[str, Any]:
    if ctx.project_id is None:
        raise Invalid("feedback import job without a project")
    path = Path(ctx.params["path"])
    if not path.exists():
        raise Invalid(f"{ctx.params.get('display_name')}: the uploaded file is gone")
    options = FeedbackImportOptions.model_validate(ctx.params["options"])
    try:
        with session_scope(ctx.session_factory) as db:  # first touch of the database: the insert
            summary = import_feedback(
                db, project_id=ctx.project_id, path=path, options=options, job_id=ctx.job_id,
                display_name=ctx.params.get("display_name"),
                rejects_path=Path(ctx.params["rejects_path"]), progress=ctx.progress,
            )  # fmt: skip
    finally:
        discard(path)
    return summary.model_dump(mode="json")


@register(feedback.PAIR_JOB)
def run_feedback_pairing(ctx: JobContext) -> dict[str, Any]:
    if ctx.project_id is None:
        raise Invalid("feedback pairing job without a project")
    options = PairOptions.model_validate(ctx.params["options"])
    ctx.progress(0.1, "pairing rated responses", force=True)
    with session_scope(ctx.session_factory, write=True) as db:
        summary = feedback.pair_feedback(db, ctx.project_id, ctx.user_id, options)
    if summary.pairs_created:
        _check_new_items(ctx)
    return summary.model_dump(mode="json")
