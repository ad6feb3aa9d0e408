"""Field-level rules for write schemas: some fields of a request body belong to a workflow.

A route's policy decides who may call it; a few fields need more than that. An item's rating is
the median of the annotators' ratings (labeling sets it on submit), so overriding it by hand is a
reviewer's call; the export split is the engineers'. Status is not in any edit schema at all: it
changes only through labeling and review.
"""

from __future__ import annotations

from pydantic import BaseModel

from app.auth.access import Access
from app.errors import Forbidden
from app.models import Role


def require_roles(data: BaseModel, access: Access, **minimum: Role) -> None:
    """Refuse (403) a body that sets a field the caller's project role may not set.

    `minimum` maps field names to the lowest project role allowed to set them; a field counts
    as set when the request sent it, even with the value it already has."""
    role = access.project_role
    for name in sorted(data.model_fields_set & minimum.keys()):
        needed = minimum[name]
        if role is None or role.rank < needed.rank:
            raise Forbidden(f"setting '{name}' needs the {needed.value} role in this project")
