from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.policy import ProjectRead, ProjectReview
from app.items import listing
from app.items.schemas import ListFilter, Page, RevertIn, SwapIn
from app.pairs import service
from app.pairs.schemas import PairOut, PairUpdate
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}/pairs", tags=["pairs"])


@router.get("")
def list_pairs(
    slug: str, db: SessionDep, access: ProjectRead, f: Annotated[ListFilter, Query()]
) -> Page[PairOut]:
    rows, total, cursor = service.list_pairs(db, access.required_project, f)
    return Page(
        items=[PairOut.model_validate(r) for r in rows],
        total=total,
        total_is_lower_bound=listing.total_is_capped(f, total),
        next_cursor=cursor,
    )


@router.get("/{pair_id}")
def get_pair(slug: str, pair_id: int, db: SessionDep, access: ProjectRead) -> PairOut:
    return PairOut.model_validate(service.get(db, access.required_project, pair_id))


@router.patch("/{pair_id}")
def update_pair(
    slug: str, pair_id: int, data: PairUpdate, db: SessionDep, access: ProjectReview
) -> PairOut:
    """Edit the prompt, either response, tags or rating (reviewers); 409 on a stale version."""
    pair = service.update(db, access.required_project, pair_id, access.required_user, data)
    return PairOut.model_validate(pair)


@router.post("/{pair_id}/swap")
def swap_pair(
    slug: str, pair_id: int, data: SwapIn, db: SessionDep, access: ProjectReview
) -> PairOut:
    """Exchange chosen and rejected."""
    pair = service.swap(db, access.required_project, pair_id, access.required_user, data.version)
    return PairOut.model_validate(pair)


@router.post("/{pair_id}/revert")
def revert_pair(
    slug: str, pair_id: int, data: RevertIn, db: SessionDep, access: ProjectReview
) -> PairOut:
    """Restore the pair as it was right after a revision (or before it, with `before`)."""
    pair = service.revert(
        db,
        access.required_project,
        access.required_user,
        pair_id,
        data.revision_id,
        data.version,
        before=data.before,
    )
    return PairOut.model_validate(pair)
