"""Writing pair candidates: each becomes a preference pair (source `synthetic`, status draft or
submitted, never approved, tagged `pair-candidate`) with a `generate` revision and a provenance
row naming the temperature of each side. Never commits.

Nobody has compared the two answers yet, so the pair claims no preference: its sides were drawn
at random (`candidates.py`), the provenance says so, and the choice is the labeling and review
workflow's. Annotators see the two answers as A and B in an order of their own and say which is
better; a reviewer swaps chosen and rejected where needed before approving (approving is the
reviewer's judgement that the stored chosen answer is the better one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.formats import PairRecord, RecordInvalid, pair_hash, parse_record
from app.items import changes
from app.items.kinds import snapshot
from app.models import (
    ItemKind,
    ItemStatus,
    PreferencePair,
    Project,
    Source,
    SyntheticProvenance,
    SyntheticRun,
    User,
)
from app.models.base import utcnow
from app.synthetic import repository
from app.synthetic.generate import Outcome, PairDraft

CANDIDATE_TAG = "pair-candidate"
NO_PREFERENCE = "none: the sides were drawn at random; a reviewer picks (swap, then approve)"


def record_of(draft: PairDraft) -> PairRecord:
    """The pair as the import would parse it (raises RecordInvalid)."""
    parsed = parse_record(
        {
            "prompt": draft.prompt,
            "chosen": [{"role": "assistant", "content": draft.chosen}],
            "rejected": [{"role": "assistant", "content": draft.rejected}],
        },
        "preference",
    )
    assert isinstance(parsed, PairRecord)
    return parsed


def land(
    db: Session, project: Project, user: User | None, run: SyntheticRun,
    pairs: Sequence[PairDraft], status: ItemStatus, outcome: Outcome,
) -> list[int]:  # fmt: skip
    """Write the pairs that are not already in the project (either way round); their ids."""
    model = str(run.params["endpoint"]["model"])
    written: list[int] = []
    seen: set[str] = set()
    for draft in pairs:
        try:
            record = record_of(draft)
        except RecordInvalid as error:
            outcome.counts["dropped_invalid"] += 1
            outcome.last_error = str(error)
            continue
        # The same two answers the other way round are the same candidate.
        hashes = {record.content_hash, pair_hash(record.prompt, record.rejected, record.chosen)}
        if hashes & seen or repository.existing_pair_hashes(db, project.id, sorted(hashes)):
            outcome.counts["dropped_duplicate"] += 1
            continue
        seen |= hashes
        user_id = user.id if user else None
        pair = PreferencePair(
            project_id=project.id, source=Source.synthetic, generator=model[:200], status=status,
            prompt=record.prompt, chosen=record.chosen, rejected=record.rejected,
            content_hash=record.content_hash, tags=[CANDIDATE_TAG], created_by_id=user_id,
            updated_by_id=user_id, updated_at=utcnow(),
        )  # fmt: skip
        db.add(pair)
        db.flush()
        changes.add_revision(
            db, project_id=project.id, kind=ItemKind.pair, item_id=pair.id,
            version=pair.version, user_id=user_id, action="generate", before=None,
            after=snapshot(pair),
        )  # fmt: skip
        db.add(provenance(run, pair.id, draft, model))
        written.append(pair.id)
    return written


def provenance(
    run: SyntheticRun, pair_id: int, draft: PairDraft, model: str
) -> SyntheticProvenance:
    p = run.params
    e = p["endpoint"]
    parameters: dict[str, Any] = {
        "temperatures": [p.get("temperature_a"), p.get("temperature_b")],
        "chosen_temperature": draft.sides[0], "rejected_temperature": draft.sides[1],
        "preference": NO_PREFERENCE, "max_tokens": e["max_tokens"], "base_url": e["base_url"],
        "seed": p.get("seed", 0),
    }  # fmt: skip
    return SyntheticProvenance(
        run_id=run.id, pair_id=pair_id, method=run.method, model=model,
        templates=dict(draft.templates), seed_ids=[], parent_id=draft.parent_id,
        parameters=parameters,
    )  # fmt: skip
