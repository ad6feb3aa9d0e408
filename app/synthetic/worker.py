"""The generation job: read the inputs, generate over HTTP with no transaction open, filter
near-duplicates and contamination, write the survivors with their provenance (pair candidates:
`pair_landing.py`).

Three short sessions, as the export job does: a read, the requests (minutes, no database), a
read for the filters, one write. A cancelled job writes nothing; a budget that runs out keeps
what it paid for.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.contamination import service as contamination
from app.contamination.indexes import load_index
from app.contamination.records import TrainText
from app.db import session_scope
from app.diversity.lexical import LexicalIndex
from app.errors import Invalid, NotFound
from app.formats import RecordInvalid, example_hash, parse_record
from app.items import changes
from app.items.kinds import snapshot
from app.llm.client import ChatClient, EndpointSettings, LLMError
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    Project,
    Source,
    SyntheticProvenance,
    SyntheticRun,
    User,
)
from app.models.base import utcnow
from app.synthetic import candidates, generate, pair_landing, repository
from app.synthetic.generate import Draft, Outcome, PairDraft, Sampling, Seed
from app.synthetic.service import templates as templates_of
from app.synthetic.templates import Method
from app.text.itemtext import message_text, prompt_text

Progress = Callable[[float, str], None]


@dataclass
class Inputs:
    run_id: int
    project_id: int
    user_id: int | None
    method: Method
    params: dict[str, Any]
    templates: generate.Templates
    seeds: list[Seed]
    targets: list[tuple[int, list[dict[str, Any]]]]
    pool_prompts: list[str]
    pool_texts: list[str]


def _instruction(messages: Sequence[dict[str, Any]]) -> str:
    return next((str(m.get("content") or "") for m in messages if m.get("role") == "user"), "")


def read_inputs(db: Session, run_id: int) -> Inputs:
    run = db.get(SyntheticRun, run_id)
    if run is None:
        raise NotFound(f"generation run {run_id} is gone")
    project = db.get(Project, run.project_id)
    if project is None:
        raise NotFound(f"project {run.project_id} is gone")
    method, params = Method(run.method), run.params
    everything = repository.first_user_turns(db, project.id)
    ids = [int(i) for i in params.get("example_ids") or []]
    seeds: list[Seed] = []
    targets: list[tuple[int, list[dict[str, Any]]]] = []
    if method is Method.self_instruct:
        approved = repository.first_user_turns(db, project.id, ItemStatus.approved)
        seeds = [Seed(i, _instruction(m)) for i, m in approved if _instruction(m)]
        seeds += [Seed(None, t) for t in params.get("seed_tasks") or []]
    elif method is Method.evol_instruct:
        chosen = (
            repository.first_user_turns(db, project.id, ids=ids)
            if ids
            else repository.first_user_turns(db, project.id, ItemStatus.approved)
        )
        seeds = [Seed(i, _instruction(m)) for i, m in chosen if _instruction(m)]
    elif method is Method.pair_candidates:
        chosen = (
            repository.first_user_turns(db, project.id, ids=ids)
            if ids
            else repository.first_user_turns(db, project.id, ItemStatus.approved)
        )
        prompts = [(i, candidates.prompt_turns(m)) for i, m in chosen]
        targets = [(i, p) for i, p in prompts if p is not None]
    else:
        targets = repository.drafts_needing_response(db, project.id, ids)
    return Inputs(
        run_id=run.id, project_id=project.id, user_id=run.created_by_id, method=method,
        params=params, templates=templates_of(db, project), seeds=seeds, targets=targets,
        pool_prompts=[_instruction(m) for _, m in everything],
        pool_texts=[message_text(m) for _, m in everything],
    )  # fmt: skip


def client_for(params: dict[str, Any]) -> ChatClient:
    e = params["endpoint"]
    settings = EndpointSettings(
        base_url=e["base_url"], model=e["model"], api_key_env=e.get("api_key_env"),
        timeout_s=float(e["timeout_s"]), concurrency=int(e["concurrency"]),
        max_requests=int(e["max_requests"]),
    )  # fmt: skip
    try:
        return ChatClient(settings)
    except LLMError as error:
        raise Invalid(str(error)) from error


def produce(client: ChatClient, inputs: Inputs, progress: Progress) -> Outcome:
    p, e = inputs.params, inputs.params["endpoint"]
    sampling = Sampling(float(e["temperature"]), int(e["max_tokens"]))
    rng = random.Random(int(p.get("seed", 0)))  # noqa: S311 - sampling prompts, not secrets
    try:
        if inputs.method is Method.self_instruct:
            return generate.self_instruct(
                client, inputs.seeds, inputs.pool_prompts, int(p["count"]), inputs.templates,
                sampling, per_request=int(p.get("per_request", 8)),
                with_responses=bool(p.get("with_responses", True)), rng=rng, progress=progress,
            )  # fmt: skip
        if inputs.method is Method.evol_instruct:
            return generate.evol_instruct(
                client, inputs.seeds, inputs.pool_prompts, inputs.templates, sampling,
                breadth_share=float(p.get("breadth_share", 0.25)), rng=rng, progress=progress,
            )  # fmt: skip
        if inputs.method is Method.pair_candidates:
            temperatures = (float(p.get("temperature_a", 0.3)), float(p.get("temperature_b", 1.0)))
            return candidates.pair_candidates(
                client, inputs.targets, inputs.templates, temperatures, sampling.max_tokens,
                rng=rng, progress=progress,
            )  # fmt: skip
        return generate.responses(
            client, inputs.targets, inputs.templates, sampling, progress=progress
        )
    except generate.EndpointFailed as error:
        raise Invalid(f"the generation endpoint failed: {error}") from error
    except ValueError as error:
        raise Invalid(str(error)) from error


def conversation(draft: Draft) -> list[dict[str, Any]]:
    if draft.messages is not None:
        turns = [m for m in draft.messages if not (m["role"] == "assistant" and not m["content"])]
        return [*turns, {"role": "assistant", "content": draft.response or ""}]
    turns = [{"role": "user", "content": draft.instruction}]
    if draft.response:
        turns.append({"role": "assistant", "content": draft.response})
    return turns


def near_duplicates(pool: Sequence[str], texts: Sequence[str]) -> set[int]:
    """Indices of ``texts`` that copy (exactly or with Jaccard >= 0.8 on word 3-shingles, the
    diversity check's rule) a pool text or an earlier kept one."""
    if not texts:
        return set()
    everything = [*pool, *texts]
    index = LexicalIndex.build(everything)
    pairs = [index.exact_pairs(), index.lexical_pairs(everything)]
    edges = sorted(
        (int(a), int(b)) for found in pairs for a, b in zip(found.left, found.right, strict=True)
    )
    dropped: set[int] = set()
    for a, b in edges:  # a < b: b is the later text
        if b >= len(pool) and (a < len(pool) or (a - len(pool)) not in dropped):
            dropped.add(b - len(pool))
    return dropped


def contaminated(db: Session, project_id: int, texts: Sequence[TrainText]) -> set[int]:
    """Indices of ``texts`` the lexical contamination check flags against a frozen eval set
    (verbatim, edited or embedded copies; paraphrases are the later full check's)."""
    found: set[int] = set()
    if not texts:
        return found
    for eval_set in repository.frozen_sets(db, project_id):
        found |= {flag.train for flag in load_index(db, eval_set, None).check(list(texts))}
    return found


def screen(
    db: Session, inputs: Inputs, outcome: Outcome
) -> list[tuple[Draft, list[dict[str, Any]]]]:
    conversations = [conversation(d) for d in outcome.drafts]
    texts = [TrainText(message_text(c), prompt_text(c)) for c in conversations]
    bad = contaminated(db, inputs.project_id, texts)
    outcome.counts["dropped_contamination"] += len(bad)
    dupes: set[int] = set()
    # Responses and pair candidates answer prompts already in the pool: no near-duplicate test.
    if inputs.method not in (Method.responses, Method.pair_candidates):
        dupes = near_duplicates(inputs.pool_texts, [t.text for t in texts]) - bad
        outcome.counts["dropped_near_duplicate"] += len(dupes)
    return [
        (d, c)
        for i, (d, c) in enumerate(zip(outcome.drafts, conversations, strict=True))
        if i not in bad and i not in dupes
    ]


def screen_pairs(db: Session, inputs: Inputs, outcome: Outcome) -> list[PairDraft]:
    """Pair candidates the contamination check would not flag (prompt and both answers, as the
    check reads a pair)."""
    texts = [
        TrainText(message_text([*d.prompt, {"content": d.chosen}, {"content": d.rejected}]),
                  prompt_text(d.prompt))
        for d in outcome.pairs
    ]  # fmt: skip
    bad = contaminated(db, inputs.project_id, texts)
    outcome.counts["dropped_contamination"] += len(bad)
    return [d for i, d in enumerate(outcome.pairs) if i not in bad]


def write(
    db: Session, inputs: Inputs, kept: list[tuple[Draft, list[dict[str, Any]]]], outcome: Outcome,
    client: ChatClient, pairs: Sequence[PairDraft] = (),
) -> dict[str, Any]:  # fmt: skip
    run = db.get(SyntheticRun, inputs.run_id)
    project = db.get(Project, inputs.project_id)
    if run is None or project is None:
        raise NotFound(f"generation run {inputs.run_id} is gone")
    user = db.get(User, inputs.user_id) if inputs.user_id is not None else None
    model = str(inputs.params["endpoint"]["model"])
    status = ItemStatus(inputs.params.get("status", "draft"))
    written: list[tuple[ItemKind, int]] = []
    seen: set[str] = set()
    for draft, messages in kept:
        try:
            record = parse_record({"messages": messages}, "messages")
        except RecordInvalid as error:
            outcome.counts["dropped_invalid"] += 1
            outcome.last_error = str(error)
            continue
        content_hash = example_hash(record.messages, None)  # type: ignore[union-attr]
        if content_hash in seen or repository.existing_hashes(db, project.id, [content_hash]):
            outcome.counts["dropped_duplicate"] += 1
            continue
        seen.add(content_hash)
        example = _land(db, project, user, draft, record, content_hash, model, status)
        db.add(_provenance(run, example.id, draft, model, inputs))
        written.append((ItemKind.example, example.id))
    landed = pair_landing.land(db, project, user, run, pairs, status, outcome)
    written += [(ItemKind.pair, i) for i in landed]
    if written and repository.frozen_sets(db, project.id):
        contamination.start_check(db, project, user, items=written)
    counts: dict[str, Any] = dict(outcome.counts)
    counts.update(kept=len(written), requests=client.budget.requests,
                  tokens=client.budget.tokens, retries=client.retries)  # fmt: skip
    if outcome.stopped:
        counts["stopped"] = outcome.stopped
    if outcome.last_error:
        counts["last_error"] = outcome.last_error[:500]
    run.counts, run.state, run.finished_at = counts, "succeeded", utcnow()
    ids = {kind: [i for k, i in written if k is kind][:1000] for kind in ItemKind}
    return {"run_id": run.id, **counts, "example_ids": ids[ItemKind.example],
            **({"pair_ids": ids[ItemKind.pair]} if landed else {})}  # fmt: skip


def _land(
    db: Session, project: Project, user: User | None, draft: Draft, record: Any,
    content_hash: str, model: str, status: ItemStatus,
) -> Example:  # fmt: skip
    """A new synthetic example, or the draft that got its response."""
    target = db.get(Example, draft.target_id) if draft.target_id is not None else None
    before = snapshot(target) if target is not None else None
    example = target or Example(
        project_id=project.id, tags=[], created_by_id=user.id if user else None
    )
    example.source, example.generator = Source.synthetic, model[:200]
    example.messages, example.needs_response = record.messages, record.needs_response
    example.content_hash = content_hash
    if target is None:
        example.status = status
        db.add(example)
    example.updated_by_id, example.updated_at = (user.id if user else None), utcnow()
    db.flush()
    changes.add_revision(
        db, project_id=project.id, kind=ItemKind.example, item_id=example.id,
        version=example.version, user_id=user.id if user else None, action="generate",
        before=before, after=snapshot(example),
    )  # fmt: skip
    return example


def _provenance(
    run: SyntheticRun, example_id: int, draft: Draft, model: str, inputs: Inputs
) -> SyntheticProvenance:
    e = inputs.params["endpoint"]
    parameters = {
        "temperature": e["temperature"], "max_tokens": e["max_tokens"],
        "base_url": e["base_url"], "seed": inputs.params.get("seed", 0), **draft.detail,
    }  # fmt: skip
    return SyntheticProvenance(
        run_id=run.id, example_id=example_id, method=run.method, model=model,
        templates=dict(draft.templates), seed_ids=list(draft.seed_ids),
        parent_id=draft.parent_id, parameters=parameters,
    )  # fmt: skip


def run(factory: sessionmaker[Session], run_id: int, progress: Progress) -> dict[str, Any]:
    with session_scope(factory, write=True) as db:
        inputs = read_inputs(db, run_id)
        row = db.get(SyntheticRun, run_id)
        if row is not None:
            row.state = "running"
    client = client_for(inputs.params)
    try:
        outcome = produce(client, inputs, progress)
    finally:
        client.close()
    found = len(outcome.drafts) + len(outcome.pairs)
    progress(0.95, f"screening {found} items for duplicates and contamination")
    with session_scope(factory) as db:
        kept = screen(db, inputs, outcome)
        pairs = screen_pairs(db, inputs, outcome)
    with session_scope(factory, write=True) as db:
        return write(db, inputs, kept, outcome, client, pairs)
