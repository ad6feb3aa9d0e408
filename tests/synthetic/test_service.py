"""Generation jobs end to end: the real runner, the scripted model over real HTTP, the database.
Provenance, drafts never approved, near-duplicates and contamination dropped before they land,
the approval gate until the contamination check has seen an item, budget, cancel, failures."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.contamination import service as contamination
from app.errors import Forbidden, Invalid
from app.evalsets import service as evalsets
from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.exports.gates import GateChecker, GateStatus
from app.jobs import service as jobs
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    Job,
    JobState,
    Project,
    ReviewDecision,
    Revision,
    Source,
    SyntheticProvenance,
    SyntheticRun,
    User,
)
from app.review import service as review
from app.synthetic import service
from app.synthetic.schemas import GenerateIn, SettingsIn, TemplateIn
from app.synthetic.templates import TemplateName
from tests.factories import conversation, make_example, make_member
from tests.llm_server import Faults, free_port
from tests.synthetic.server import Model, model_server

RunJobs = Callable[[], list[int]]
EVAL_QUESTION = (
    "Which layer of the atmosphere holds most of the ozone that shields the surface from "
    "ultraviolet radiation during the long polar summer"
)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Faults, Model]]:
    with model_server() as running:
        yield running


@pytest.fixture(autouse=True)
def lexical_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Contamination jobs without the embedding model (its lexical checks only): fast."""
    monkeypatch.setattr(contamination, "get_text_encoder", lambda: None)


@pytest.fixture
def endpoint(
    db: Session, project: Project, engineer: User, server: tuple[str, Faults, Model]
) -> tuple[str, Faults, Model]:
    url, faults, model = server
    faults.errors.clear()
    model.extra = None
    service.save_settings(db, project, engineer, SettingsIn(base_url=url, model="scripted-7b",
                                                            concurrency=2))  # fmt: skip
    make_example(db, project, conversation("Explain how volcanoes erupt", "Magma rises."),
                 status=ItemStatus.approved)  # fmt: skip
    db.commit()
    return url, faults, model


def _endpoint(db: Session, project: Project, user: User, **kw: object) -> None:
    service.save_settings(db, project, user, SettingsIn.model_validate({"model": "m", **kw}))


def _generate(
    db: Session, project: Project, user: User, run_jobs: RunJobs, **kw: object
) -> SyntheticRun:
    run = service.start(db, project, user, GenerateIn.model_validate(kw))
    db.commit()
    run_jobs()
    db.refresh(run)
    return run


def _synthetic(db: Session, project: Project) -> list[Example]:
    query = select(Example).where(
        Example.project_id == project.id, Example.source == Source.synthetic
    )
    return list(db.scalars(query.order_by(Example.id)))


def test_self_instruct_lands_drafts_with_provenance(
    db: Session, project: Project, engineer: User, endpoint: tuple[str, Faults, Model],
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    url = endpoint[0]
    service.save_template(db, project, engineer, TemplateIn(
        name=TemplateName.self_instruct,
        text="Come up with a series of tasks. {count} new ones like:\n{tasks}\n"))  # fmt: skip
    run = _generate(db, project, engineer, run_jobs, method="self_instruct", count=4,
                    status="submitted", seed_tasks=["Write a haiku about autumn rain"])  # fmt: skip
    assert run.state == "succeeded", run.error
    made = _synthetic(db, project)
    assert len(made) == run.counts["kept"] == 4
    assert run.counts["dropped_rouge"] >= 1 and run.counts["requests"] >= 2
    assert {e.status for e in made} == {ItemStatus.submitted}
    assert all(e.generator == "scripted-7b" and not e.needs_response for e in made)
    seed = db.scalar(select(Example.id).where(Example.source == Source.human))
    for example in made:
        prov = db.scalar(
            select(SyntheticProvenance).where(SyntheticProvenance.example_id == example.id)
        )
        assert prov is not None and prov.run_id == run.id and prov.method == "self_instruct"
        assert prov.model == "scripted-7b" and prov.templates == {"self_instruct": 1, "response": 0}
        assert set(prov.seed_ids) <= {seed} and prov.parameters["base_url"] == url
        assert prov.parameters["temperature"] == 0.7
        assert example.messages[1]["content"] == "Answer to: " + example.messages[0]["content"]
    revision = db.scalar(select(Revision).where(Revision.item_id == made[0].id))
    assert (
        revision is not None and revision.action == "generate" and revision.user_id == engineer.id
    )
    # the ≥ 20 % real-data export gate counts them as not real
    gates = GateChecker(project_system_prompt="", sequence_len=4096, min_real_share=0.5)
    for example in db.scalars(select(Example).where(Example.project_id == project.id)):
        gates.add(item_id=example.id, kind="example", messages=example.messages,
                  source=example.source.value, template="t", token_count=10,
                  content_hash=example.content_hash)  # fmt: skip
    real = next(g for g in gates.results() if g.name == "real_data")
    assert real.status is GateStatus.warn and "(1 of 5)" in real.summary


def test_evol_instruct_and_responses_for_drafts(
    db: Session, project: Project, engineer: User, endpoint: tuple[str, Faults, Model],
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    parent = make_example(db, project, conversation("Explain how tides work", "The moon."))
    copy = make_example(db, project, conversation("Please copy this sentence", "Okay."))
    run = _generate(db, project, engineer, run_jobs, method="evol_instruct",
                    example_ids=[parent.id, copy.id], breadth_share=0)  # fmt: skip
    assert run.state == "succeeded" and run.counts["dropped_copied_prompt"] == 1
    (evolved,) = _synthetic(db, project)
    assert evolved.status is ItemStatus.draft
    assert evolved.messages[0]["content"].startswith("Explain how tides work Answer in")
    prov = db.scalar(
        select(SyntheticProvenance).where(SyntheticProvenance.example_id == evolved.id)
    )
    assert prov is not None and prov.parent_id == parent.id and prov.method == "evol_instruct"

    draft = make_example(db, project, [{"role": "user", "content": "Name a mountain"}])
    draft.needs_response = True
    db.commit()
    run = _generate(db, project, engineer, run_jobs, method="responses")
    db.refresh(draft)
    assert run.counts["kept"] == 1 and not draft.needs_response
    assert draft.messages[-1] == {"role": "assistant", "content": "Answer to: Name a mountain"}
    assert draft.source is Source.synthetic and draft.status is ItemStatus.draft


def test_contamination_and_near_duplicates_are_dropped_and_approval_waits_for_the_check(
    db: Session, project: Project, engineer: User, endpoint: tuple[str, Faults, Model],
    run_jobs: RunJobs, tmp_path: Path,
) -> None:  # fmt: skip
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"question": EVAL_QUESTION, "answer": "the stratosphere"}) + "\n")
    eval_set = evalsets.create_from_file(db, project, engineer, name="ozone", path=path)
    evalsets.freeze(db, eval_set, engineer)
    db.commit()
    run_jobs()
    _, _, model = endpoint
    model.extra = EVAL_QUESTION
    reviewer = make_member(db, project, "rev@example.com", role=engineer.role)
    run = _generate(db, project, engineer, run_jobs, method="self_instruct", count=3,
                    status="submitted")  # fmt: skip
    assert run.counts["dropped_contamination"] >= 1, run.counts
    made = _synthetic(db, project)
    assert made and all(EVAL_QUESTION not in e.messages[0]["content"] for e in made)
    item = made[0]
    # the generation queued the check and run_jobs ran it: the reviewer may approve
    decision = review.decide(db, project, reviewer, ItemKind.example, item.id,
                             ReviewDecision.approve, "", item.version)  # fmt: skip
    assert decision.item.status is ItemStatus.approved
    # an edit changes the content: approval waits for the check of the new content
    other = made[1]
    edit = ExampleUpdate(version=other.version, messages=conversation("Explain tides", "Moon."))
    examples.update(db, project, other.id, engineer, edit)
    db.commit()
    with pytest.raises(Forbidden, match="contamination check has not seen"):
        review.decide(db, project, reviewer, ItemKind.example, other.id,
                      ReviewDecision.approve, "", other.version)  # fmt: skip
    db.rollback()
    run_jobs()
    db.refresh(other)
    review.decide(db, project, reviewer, ItemKind.example, other.id, ReviewDecision.approve, "",
                  other.version)  # fmt: skip


def test_near_duplicates_of_the_pool_are_dropped(
    db: Session, project: Project, engineer: User, endpoint: tuple[str, Faults, Model],
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    _, _, model = endpoint
    model.extra = "Explain how tall volcanoes erupt in the pacific ocean near japan"
    make_example(db, project, conversation(
        "Explain how tall volcanoes erupt in the pacific ocean near japan",
        "Answer to: Explain how tall volcanoes erupt in the pacific ocean near japan"))  # fmt: skip
    db.commit()
    run = _generate(db, project, engineer, run_jobs, method="self_instruct", count=2)
    assert run.counts["dropped_rouge"] >= 1
    assert len(_synthetic(db, project)) == 2


def test_budget_cancel_and_failures(
    db: Session, project: Project, engineer: User, endpoint: tuple[str, Faults, Model],
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    url, faults, _ = endpoint
    _endpoint(db, project, engineer, base_url=url, max_requests=2, concurrency=1)
    faults.fail(429, retry_after=0.05)
    run = _generate(db, project, engineer, run_jobs, method="self_instruct", count=500)
    assert run.state == "succeeded" and run.counts["stopped"] == "budget"
    assert run.counts["requests"] == 2 and run.counts["retries"] == 1
    assert all(e.needs_response for e in _synthetic(db, project))  # landed without responses

    run = service.start(db, project, engineer, GenerateIn(method="self_instruct", count=3))
    db.commit()
    jobs.cancel(db, db.get(Job, run.job_id), engineer)  # type: ignore[arg-type]
    db.commit()
    run_jobs()
    db.refresh(run)
    assert run.state == "cancelled"

    _endpoint(db, project, engineer, base_url=f"http://127.0.0.1:{free_port()}")
    run = _generate(db, project, engineer, run_jobs, method="self_instruct", count=3)
    job = db.get(Job, run.job_id)
    assert run.state == "failed" and job is not None and job.state is JobState.failed
    assert "the generation endpoint failed" in (run.error or "")

    _endpoint(db, project, engineer, base_url=url, api_key_env="TRELLIS_NO_SUCH_KEY")
    run = _generate(db, project, engineer, run_jobs, method="self_instruct", count=3)
    assert run.state == "failed" and "TRELLIS_NO_SUCH_KEY is not set" in (run.error or "")


def test_start_checks_what_the_method_needs(db: Session, project: Project, engineer: User) -> None:
    with pytest.raises(Invalid, match="endpoint first"):
        service.start(db, project, engineer, GenerateIn(method="self_instruct"))  # type: ignore[arg-type]
    service.save_settings(db, project, engineer, SettingsIn(base_url="http://x", model="m"))
    with pytest.raises(Invalid, match="seed_tasks"):
        service.start(db, project, engineer, GenerateIn(method="self_instruct"))  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="no draft"):
        service.start(db, project, engineer, GenerateIn(method="responses"))  # type: ignore[arg-type]
    with pytest.raises(Invalid, match=r"field example_ids: \[999\]"):
        service.start(db, project, engineer, GenerateIn(method="evol_instruct", example_ids=[999]))  # type: ignore[arg-type]
    with pytest.raises(Invalid, match=r"needs \{tasks\}"):
        service.save_template(
            db, project, engineer, TemplateIn(name=TemplateName.self_instruct, text="{count} tasks")
        )
