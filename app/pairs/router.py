from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.policy import ProjectRead
from app.examples import listing
from app.examples.schemas import ListFilter, Page
from app.pairs import service
from app.pairs.schemas import PairOut
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
