"""Closed vocabularies shared by models, schemas and services."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    admin = "admin"
    engineer = "engineer"
    reviewer = "reviewer"
    annotator = "annotator"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]


_ROLE_RANK = {Role.annotator: 1, Role.reviewer: 2, Role.engineer: 3, Role.admin: 4}


class Source(enum.StrEnum):
    human = "human"
    synthetic = "synthetic"
    imported = "imported"
    feedback = "feedback"  # pairs made from production feedback (app/feedback)


class ItemStatus(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    needs_revision = "needs_revision"


class JobState(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.succeeded, JobState.failed, JobState.cancelled)


class ItemKind(enum.StrEnum):
    example = "example"
    pair = "pair"


class LabelState(enum.StrEnum):
    """One annotator's work on one item."""

    draft = "draft"  # opened or autosaved, not submitted
    submitted = "submitted"
    skipped = "skipped"  # comes back to the same annotator after everything else
    discarded = "discarded"  # the annotator judged the item unusable
    returned = "returned"  # a reviewer sent the item back; first in this annotator's queue


class Preference(enum.StrEnum):
    """An annotator's judgement of a pair, in terms of the stored chosen/rejected sides."""

    chosen = "chosen"  # agrees: the chosen response is better
    rejected = "rejected"  # disagrees: the rejected response is better
    tie = "tie"


class ReviewDecision(enum.StrEnum):
    approve = "approve"
    reject = "reject"
    needs_revision = "needs_revision"
