"""A project's inter-annotator agreement, from its submitted (and returned) labels. Never
commits; the numbers come from the pure functions in ``app.agreement``."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from app.agreement.alpha import Alpha, alpha_for_units
from app.agreement.disagreements import category_disagreements, rating_disagreements
from app.agreement.kappa import pairwise
from app.dashboard import repository
from app.dashboard.repository import JudgedLabel
from app.dashboard.schemas import (
    AgreementOut,
    AlphaOut,
    DisagreementOut,
    JudgementOut,
    RaterPairOut,
)
from app.models import ItemKind, Preference, Project

DISAGREEMENTS_SHOWN = 200
KIND_PATHS = {ItemKind.example: "examples", ItemKind.pair: "pairs"}
# Preferences as codes for nominal alpha (any distinct numbers do).
PREFERENCE_CODES = {p: float(i) for i, p in enumerate(Preference)}

Units = dict[int, dict[int, int]]


def _alpha_out(result: Alpha) -> AlphaOut:
    return AlphaOut(
        value=result.value,
        level=result.level,
        items=result.units,
        annotators=result.raters or 0,
        values=result.values,
        reason=result.reason,
    )


def _units(
    labels: list[JudgedLabel],
) -> tuple[dict[ItemKind, Units], dict[int, dict[int, Preference]]]:
    ratings: dict[ItemKind, Units] = {kind: defaultdict(dict) for kind in ItemKind}
    preferences: dict[int, dict[int, Preference]] = defaultdict(dict)
    for label in labels:
        kind = ItemKind(label.item_kind)
        if label.rating is not None:
            ratings[kind][label.item_id][label.user_id] = label.rating
        if kind is ItemKind.pair and label.preference is not None:
            preferences[label.item_id][label.user_id] = label.preference
    return ratings, preferences


def _disagreements(
    db: Session,
    project: Project,
    labels: list[JudgedLabel],
    ratings: dict[ItemKind, Units],
    preferences: dict[int, dict[int, Preference]],
    emails: dict[int, str],
) -> tuple[list[DisagreementOut], int]:
    spread = {
        (kind, d.unit): d.spread for kind in ItemKind for d in rating_disagreements(ratings[kind])
    }
    differ = {(ItemKind.pair, d.unit) for d in category_disagreements(preferences)}
    # Widest rating spread first, then preference splits, then oldest item first.
    keys = sorted(
        set(spread) | differ, key=lambda k: (-(spread.get(k) or 0), k[0] != ItemKind.example, k[1])
    )
    shown = keys[:DISAGREEMENTS_SHOWN]
    wanted = set(shown)
    judgements: dict[tuple[ItemKind, int], list[JudgementOut]] = defaultdict(list)
    for label in labels:
        key = (ItemKind(label.item_kind), label.item_id)
        if key in wanted:
            judgements[key].append(
                JudgementOut(
                    user_id=label.user_id,
                    email=emails.get(label.user_id, f"user {label.user_id}"),
                    rating=label.rating,
                    preference=label.preference.value if label.preference else None,
                )
            )
    statuses = {
        kind: repository.statuses(db, project.id, kind, [i for k, i in shown if k is kind])
        for kind in ItemKind
    }
    rows = []
    for kind, item_id in shown:
        status = statuses[kind].get(item_id)
        rows.append(
            DisagreementOut(
                kind=KIND_PATHS[kind],
                item_id=item_id,
                status=status.value if status else None,
                rating_spread=spread.get((kind, item_id)),
                preferences_differ=(kind, item_id) in differ,
                judgements=judgements[(kind, item_id)],
            )
        )
    return rows, len(keys)


def agreement(db: Session, project: Project) -> AgreementOut:
    labels = repository.overlapping_labels(db, project.id)
    emails = repository.emails(db, {label.user_id for label in labels})
    ratings, preferences = _units(labels)
    coded = {
        item: {user: PREFERENCE_CODES[p] for user, p in values.items()}
        for item, values in preferences.items()
    }
    rater_pairs = [
        RaterPairOut(
            first_id=pair.first,
            first_email=emails.get(pair.first, f"user {pair.first}"),
            second_id=pair.second,
            second_email=emails.get(pair.second, f"user {pair.second}"),
            items=pair.result.n,
            agreement=pair.result.agreement,
            kappa=pair.result.kappa,
            reason=pair.result.reason,
        )
        for pair in pairwise(preferences, categories=list(Preference))
    ]
    rows, total = _disagreements(db, project, labels, ratings, preferences, emails)
    return AgreementOut(
        project=project.slug,
        example_ratings=_alpha_out(alpha_for_units(ratings[ItemKind.example], "ordinal")),
        pair_ratings=_alpha_out(alpha_for_units(ratings[ItemKind.pair], "ordinal")),
        pair_preferences=_alpha_out(alpha_for_units(coded, "nominal")),
        rater_pairs=rater_pairs,
        disagreements=rows,
        disagreements_total=total,
    )
