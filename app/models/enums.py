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
