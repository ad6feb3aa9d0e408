"""create_app(): settings, database, routers, middleware and error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from app import __version__
from app.auth.sessions import SessionCodec
from app.config import Settings, get_settings
from app.db import get_session_factory
from app.web import errors, input_guard, unavailable
from app.web.limits import BodySizeLimit
from app.web.security_headers import SecurityHeaders
from app.web.templating import STATIC_DIR


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Once the server has started: move everything alive (modules, routes, SQLAlchemy's
    mappings, templates: about 200,000 objects) out of the garbage collector's sight. They
    live as long as the process, yet every full collection walked them all, stopping the
    process for 70-330 ms, which is what the slowest requests were waiting for."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def create_app(
    settings: Settings | None = None, session_factory: sessionmaker[Session] | None = None
) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Trellis",
        version=__version__,
        description="Curate the data LLM fine-tuning runs on.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory or get_session_factory()
    app.state.session_codec = SessionCodec(
        settings.effective_secret_key(), settings.session_max_age_s
    )

    from app import (
        health,
        job_handlers,  # noqa: F401 - every job kind's queue and failure hook
    )
    from app.contamination import pages as contamination_pages
    from app.contamination import router as contamination
    from app.dashboard import pages as dashboard_pages
    from app.dashboard import router as dashboard
    from app.diversity import pages as diversity_pages
    from app.diversity import router as diversity
    from app.eval_runs import pages as eval_run_pages
    from app.eval_runs import router as eval_runs
    from app.evalsets import pages as evalset_pages
    from app.evalsets import router as evalsets
    from app.examples import pages as example_pages
    from app.examples import router as examples
    from app.exports import pages as export_pages
    from app.exports import router as exports
    from app.feedback import pages as feedback_pages
    from app.feedback import router as feedback
    from app.imports import pages as import_pages
    from app.imports import router as imports
    from app.jobs import pages as job_pages
    from app.jobs import router as jobs
    from app.labeling import pages as labeling_pages
    from app.labeling import router as labeling
    from app.pairs import pages as pair_pages
    from app.pairs import router as pairs
    from app.projects import pages as project_pages
    from app.projects import router as projects
    from app.review import list_pages as review_list_pages
    from app.review import pages as review_pages
    from app.review import router as review
    from app.selections import router as selections
    from app.synthetic import pages as synthetic_pages
    from app.synthetic import router as synthetic
    from app.training_runs import pages as training_pages
    from app.training_runs import router as training
    from app.users import pages as user_pages
    from app.users import router as users

    # Routes are matched in order, one by one: the labeling API, which annotators call all
    # day, goes first (its paths overlap no other router's).
    for module in (
        labeling, health, users, projects, examples, pairs, imports, jobs, exports,
        user_pages, project_pages, example_pages, pair_pages, import_pages, job_pages, export_pages,
        evalsets, evalset_pages, contamination, contamination_pages, selections,
        diversity, diversity_pages, labeling_pages, review, review_pages, review_list_pages,
        dashboard, dashboard_pages, training, training_pages, eval_runs, eval_run_pages,
        synthetic, synthetic_pages,
        feedback, feedback_pages,
    ):  # fmt: skip
        app.include_router(module.router)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    unavailable.install(app)
    input_guard.install(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodySizeLimit, max_bytes=settings.upload_max_bytes)
    return app
