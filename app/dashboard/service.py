"""The dashboard's figures: progress, sources, ratings and annotators. Never commits."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from app.dashboard import repository
from app.dashboard.schemas import (
    RATINGS,
    AnnotatorFigures,
    DashboardOut,
    Histogram,
    KindFigures,
)
from app.models import ItemKind, ItemStatus, LabelState, Project, Source

REAL_SHARE_FLOOR = 0.2
KIND_NOUNS = {ItemKind.example: "examples", ItemKind.pair: "pairs"}


def histogram(counts: dict[int, int]) -> Histogram:
    inside = {str(r): counts.get(r, 0) for r in RATINGS}
    other = sum(n for r, n in counts.items() if r not in RATINGS)
    return Histogram(counts=inside, other=other, total=sum(counts.values()))


def _kind(db: Session, project: Project, kind: ItemKind, labels: dict[int, int]) -> KindFigures:
    raw_status = repository.status_counts(db, project.id, kind)
    raw_source = repository.source_counts(db, project.id, kind)
    status = {s.value: raw_status.get(s.value, 0) for s in ItemStatus}
    source = {s.value: raw_source.get(s.value, 0) for s in Source}
    total = sum(status.values())
    real = total - source[Source.synthetic.value]
    return KindFigures(
        total=total,
        status=status,
        source=source,
        real_share=real / total if total else None,
        label_ratings=histogram(labels),
        item_ratings=histogram(repository.item_rating_counts(db, project.id, kind)),
    )


def _annotators(db: Session, project: Project) -> list[AnnotatorFigures]:
    medians = repository.median_seconds(db, project.id)
    found: dict[int, AnnotatorFigures] = {}
    for row in repository.label_counts(db, project.id):
        figures = found.get(row.user_id)
        if figures is None:
            figures = AnnotatorFigures(
                user_id=row.user_id,
                email=row.email,
                labels={s.value: 0 for s in LabelState},
                median_seconds=medians.get(row.user_id),
            )
            found[row.user_id] = figures
        figures.labels[row.state.value] = row.count
    return list(found.values())


def percent(share: float) -> str:
    """A share as a percentage; under the floor it is cut, not rounded, to one decimal (a
    19.96 % share reads "19.9%", never "20%")."""
    if share < REAL_SHARE_FLOOR:
        return f"{math.floor(share * 1000 + 1e-9) / 10:g}%"
    return f"{share:.0%}"


def real_share_warnings(kinds: dict[ItemKind, KindFigures]) -> list[str]:
    warnings = []
    for kind, figures in kinds.items():
        if figures.real_share is not None and figures.real_share < REAL_SHARE_FLOOR:
            warnings.append(
                f"Only {percent(figures.real_share)} of the {KIND_NOUNS[kind]} are real "
                f"(human or imported, not synthetic); keep real data at "
                f"{REAL_SHARE_FLOOR:.0%} or more so the model does not learn mostly from "
                "generated text."
            )
    return warnings


def dashboard(db: Session, project: Project) -> DashboardOut:
    by_kind = repository.label_rating_counts(db, project.id)
    kinds = {
        kind: _kind(db, project, kind, {r: n for (k, r), n in by_kind.items() if k == kind.value})
        for kind in ItemKind
    }
    return DashboardOut(
        project=project.slug,
        examples=kinds[ItemKind.example],
        pairs=kinds[ItemKind.pair],
        annotators=_annotators(db, project),
        real_share_floor=REAL_SHARE_FLOOR,
        warnings=real_share_warnings(kinds),
    )
