"""The dashboard's and the agreement page's figures, as the JSON API returns them."""

from __future__ import annotations

from pydantic import BaseModel, Field

RATINGS = (1, 2, 3, 4, 5)


class Histogram(BaseModel):
    counts: dict[str, int] = Field(description='ratings "1" to "5" and how often each was given')
    other: int = Field(default=0, description="ratings outside 1-5 (imported data)")
    total: int = Field(description="everything rated, other included")


class KindFigures(BaseModel):
    total: int
    status: dict[str, int] = Field(description="items per status; draft = pending labeling")
    source: dict[str, int] = Field(description="items per source: human, synthetic, imported")
    real_share: float | None = Field(
        description="non-synthetic (human + imported) share of the items; null when none"
    )
    label_ratings: Histogram = Field(
        description="annotators' ratings: one per submitted (or returned) label"
    )
    item_ratings: Histogram = Field(
        description="ratings stored on the items: the median of their labels, or imported"
    )


class AnnotatorFigures(BaseModel):
    user_id: int
    email: str
    labels: dict[str, int] = Field(description="labels per state")
    median_seconds: float | None = Field(
        description="median seconds per submitted label (returned ones included)"
    )


class DashboardOut(BaseModel):
    project: str
    examples: KindFigures
    pairs: KindFigures
    annotators: list[AnnotatorFigures]
    real_share_floor: float = Field(description="below this share of real data, a warning")
    warnings: list[str]


class AlphaOut(BaseModel):
    value: float | None = Field(description="Krippendorff's alpha; null when undefined")
    level: str = Field(description="level of measurement: ordinal, nominal or interval")
    items: int = Field(description="items with two or more values, the ones alpha is based on")
    annotators: int
    values: int = Field(description="values of those items")
    reason: str | None = Field(default=None, description="why alpha is undefined")


class RaterPairOut(BaseModel):
    first_id: int
    first_email: str
    second_id: int
    second_email: str
    items: int = Field(description="pairs both annotators labeled")
    agreement: float | None = Field(description="share of shared pairs with the same preference")
    kappa: float | None = Field(description="Cohen's kappa over chosen / rejected / tie")
    reason: str | None = None


class JudgementOut(BaseModel):
    user_id: int
    email: str
    rating: int | None
    preference: str | None


class DisagreementOut(BaseModel):
    kind: str = Field(description="examples or pairs")
    item_id: int
    status: str | None
    rating_spread: int | None = Field(description="highest minus lowest rating, when >= 2")
    preferences_differ: bool
    judgements: list[JudgementOut]


class AgreementOut(BaseModel):
    project: str
    example_ratings: AlphaOut = Field(description="ordinal alpha on example quality ratings")
    pair_ratings: AlphaOut = Field(description="ordinal alpha on pair quality ratings")
    pair_preferences: AlphaOut = Field(description="nominal alpha on pair preferences")
    rater_pairs: list[RaterPairOut] = Field(description="preference agreement per annotator pair")
    disagreements: list[DisagreementOut]
    disagreements_total: int
