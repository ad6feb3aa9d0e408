"""Dashboard pages: progress, sources, ratings and annotators as inline SVG charts, and the
agreement page with the items annotators disagree on, linked to their review view."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.auth.policy import ProjectRead
from app.dashboard import agreement as agreement_service
from app.dashboard import service
from app.dashboard.charts import bars, describe, stacked
from app.dashboard.schemas import RATINGS, AlphaOut, Histogram, KindFigures
from app.feedback import service as feedback
from app.models import ItemStatus, LabelState, Source
from app.web.deps import SessionDep
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)

STATUS_LABELS = {
    ItemStatus.draft.value: "pending",
    ItemStatus.submitted.value: "submitted",
    ItemStatus.approved.value: "approved",
    ItemStatus.rejected.value: "rejected",
    ItemStatus.needs_revision.value: "needs revision",
}
SOURCE_LABELS = {s.value: s.value for s in Source}
LABEL_STATES = [
    (LabelState.submitted.value, "submitted"),
    (LabelState.skipped.value, "skipped"),
    (LabelState.discarded.value, "discarded"),
    (LabelState.returned.value, "returned"),
    (LabelState.draft.value, "in progress"),
]


def _histogram(title: str, histogram: Histogram) -> dict[str, Any]:
    parts = [(str(r), histogram.counts[str(r)]) for r in RATINGS]
    return {"bars": bars(parts), "text": describe(title, parts), "other": histogram.other}


def _kind_charts(key: str, title: str, figures: KindFigures) -> dict[str, Any]:
    status = [(s, STATUS_LABELS[s], figures.status[s]) for s in STATUS_LABELS]
    source = [(s, SOURCE_LABELS[s], figures.source[s]) for s in SOURCE_LABELS]
    noun = title.lower()
    return {
        "key": key,
        "title": title,
        "figures": figures,
        "progress": stacked(status),
        "progress_text": describe(f"{title} by status", [(lb, n) for _, lb, n in status]),
        "sources": stacked(source),
        "sources_text": describe(f"{title} by source", [(lb, n) for _, lb, n in source]),
        "label_ratings": _histogram(f"Annotators' ratings of {noun}", figures.label_ratings),
        "item_ratings": _histogram(f"Ratings stored on {noun}", figures.item_ratings),
    }


@router.get("/projects/{slug}/dashboard")
def dashboard_page(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    figures = service.dashboard(db, access.required_project)
    context = {
        "figures": figures,
        "kinds": [
            _kind_charts("examples", "Examples", figures.examples),
            _kind_charts("pairs", "Pairs", figures.pairs),
        ],
        "label_states": LABEL_STATES,
        "feedback": feedback.stats(db, access.required_project),
    }
    return render(request, "dashboard/dashboard.html", context)


def reliability(result: AlphaOut) -> str:
    """Krippendorff's own reading of alpha (Content Analysis, 2004, 241)."""
    if result.value is None:
        return "undefined"
    if result.value >= 0.8:
        return "reliable"
    if result.value >= 0.667:
        return "tentative"
    return "unreliable"


@router.get("/projects/{slug}/agreement")
def agreement_page(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    figures = agreement_service.agreement(db, access.required_project)
    context = {
        "figures": figures,
        "alphas": [
            ("Example quality ratings", figures.example_ratings),
            ("Pair quality ratings", figures.pair_ratings),
            ("Pair preferences", figures.pair_preferences),
        ],
        "reliability": reliability,
        "shown": agreement_service.DISAGREEMENTS_SHOWN,
    }
    return render(request, "dashboard/agreement.html", context)
