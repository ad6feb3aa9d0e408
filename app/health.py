from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from app.auth.policy import Public
from app.web.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(db: SessionDep, _: Public) -> dict[str, str]:
    db.execute(text("SELECT 1"))
    return {"status": "ok"}
