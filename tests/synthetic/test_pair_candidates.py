"""Pair candidates end to end: the real runner, the scripted model over real HTTP (it says which
temperature each request asked for), the database. One unranked preference pair per prompt with
provenance naming each side's temperature; identical samples dropped and counted; the budget;
contamination screening and the approval gate on pairs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.contamination import service as contamination
from app.errors import Forbidden, Invalid, NotFound
from app.evalsets import service as evalsets
from app.labeling import queue
from app.labeling import service as labeling
from app.labeling.schemas import SubmitIn
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    Preference,
    PreferencePair,
    Project,
    ReviewDecision,
    Revision,
    Role,
    Source,
    SyntheticRun,
    User,
)
from app.models.base import utcnow
from app.pairs import service as pairs
from app.review import service as review
from app.synthetic import service
from app.synthetic.schemas import GenerateIn, SettingsIn, TemplateIn
from app.synthetic.templates import TemplateName
from tests.factories import conversation, make_example, make_member
from tests.llm_server import Faults
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
    url, faults, _ = server
    faults.errors.clear()
    service.save_settings(db, project, engineer, SettingsIn(base_url=url, model="scripted-7b",
                                                            concurrency=2))  # fmt: skip
    db.commit()
    return server


def _generate(
    db: Session, project: Project, user: User, run_jobs: RunJobs, **kw: object
) -> SyntheticRun:
    run = service.start(db, project, user, GenerateIn.model_validate(kw))
    db.commit()
    run_jobs()
    db.refresh(run)
    return run


def _pairs(db: Session, project: Project) -> list[PreferencePair]:
    query = select(PreferencePair).where(PreferencePair.project_id == project.id)
    return list(db.scalars(query.order_by(PreferencePair.id)))


def _approved(db: Session, project: Project, question: str) -> Example:
    return make_example(db, project, conversation(question, "A human answer."),
                        status=ItemStatus.approved)  # fmt: skip


def test_each_prompt_becomes_an_unranked_pair_of_two_temperatures(
    db: Session, project: Project, engineer: User, endpoint: tuple[str, Faults, Model],
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    _, faults, _ = endpoint
    turns = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me about tides, sample me"},
        {"role": "assistant", "content": "The moon pulls the sea."},
        {"role": "user", "content": "And why twice a day? sample me"},
        {"role": "assistant", "content": "Two bulges."},
    ]
    multi = make_example(db, project, turns, status=ItemStatus.approved)
    single = _approved(db, project, "Explain rainbows, sample me")
    _approved(db, project, "Say hello, always the same")  # whitespace apart: identical
    _approved(db, project, "Explain how volcanoes erupt")  # one answer at every temperature
    make_example(db, project, conversation("Name a river, sample me", "The Nile."))  # a draft
    service.save_template(db, project, engineer, TemplateIn(
        name=TemplateName.response, text="Answer briefly: {instruction}"))  # fmt: skip
    sent = len(faults.bodies)
    run = _generate(db, project, engineer, run_jobs, method="pair_candidates")
    assert run.state == "succeeded", run.error
    assert run.counts["generated"] == 4 and run.counts["kept"] == 2, run.counts
    assert run.counts["dropped_identical_samples"] == 2 and run.counts["requests"] == 8
    assert sorted(b["temperature"] for b in faults.bodies[sent:]) == [0.3] * 4 + [1.0] * 4

    made = _pairs(db, project)
    assert len(made) == 2
    assert not db.scalars(select(Example).where(Example.source == Source.synthetic)).all()
    by_parent = {}
    for pair in made:
        assert pair.source is Source.synthetic and pair.status is ItemStatus.draft
        assert pair.generator == "scripted-7b" and pair.tags == ["pair-candidate"]
        prov = service.pair_provenance(db, project, pair.id)
        assert prov.run_id == run.id and prov.method == "pair_candidates"
        assert prov.example_id is None and prov.pair_id == pair.id
        assert prov.model == "scripted-7b" and prov.templates == {"response": 1}
        params = prov.parameters
        assert params["temperatures"] == [0.3, 1.0] and params["preference"].startswith("none")
        assert {params["chosen_temperature"], params["rejected_temperature"]} == {0.3, 1.0}
        # each side is the answer sampled at the temperature the provenance names for it
        for side, key in (
            (pair.chosen, "chosen_temperature"),
            (pair.rejected, "rejected_temperature"),
        ):
            assert side == [{"role": "assistant", "content": side[0]["content"]}]
            assert side[0]["content"].endswith(f"(sampled at temperature {params[key]})")
        assert pair.chosen[0]["content"].startswith("Answer to: Answer briefly: ")
        revision = db.scalar(select(Revision).where(Revision.item_kind == "pair",
                                                    Revision.item_id == pair.id))  # fmt: skip
        assert revision is not None and revision.action == "generate"
        by_parent[prov.parent_id] = pair
    assert set(by_parent) == {multi.id, single.id}
    # the prompt is the conversation up to its last user turn
    assert by_parent[multi.id].prompt == turns[:4]
    assert by_parent[single.id].prompt == [
        {"role": "user", "content": "Explain rainbows, sample me"}
    ]

    # the same candidates again (one of them swapped since) are duplicates, either way round
    pair = by_parent[single.id]
    pairs.swap(db, project, pair.id, engineer, pair.version)
    db.commit()
    again = _generate(db, project, engineer, run_jobs, method="pair_candidates",
                      example_ids=[multi.id, single.id])  # fmt: skip
    assert again.counts["dropped_duplicate"] == 2 and again.counts["kept"] == 0
    assert len(_pairs(db, project)) == 2


def test_the_budget_stops_the_pairs_and_keeps_the_complete_ones(
    db: Session, project: Project, engineer: User, endpoint: tuple[str, Faults, Model],
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    url = endpoint[0]
    service.save_settings(db, project, engineer, SettingsIn(
        base_url=url, model="m", max_requests=3, concurrency=1))  # fmt: skip
    ids = [_approved(db, project, f"Explain {t}, sample me").id for t in ("tides", "dew", "hail")]
    run = _generate(db, project, engineer, run_jobs, method="pair_candidates",
                    example_ids=ids, temperature_a=0.0, temperature_b=2.0)  # fmt: skip
    assert run.state == "succeeded" and run.counts["stopped"] == "budget"
    assert run.counts["requests"] == 3 and run.counts["kept"] == 1
    assert run.counts["unanswered"] == 2
    (pair,) = _pairs(db, project)
    prov = service.pair_provenance(db, project, pair.id)
    assert prov.parent_id == ids[0] and prov.parameters["temperatures"] == [0.0, 2.0]


def test_contaminated_candidates_are_dropped_and_approval_waits_for_the_check(
    db: Session, project: Project, engineer: User, endpoint: tuple[str, Faults, Model],
    run_jobs: RunJobs, tmp_path: Path,
) -> None:  # fmt: skip
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"question": EVAL_QUESTION, "answer": "the stratosphere"}) + "\n")
    eval_set = evalsets.create_from_file(db, project, engineer, name="ozone", path=path)
    evalsets.freeze(db, eval_set, engineer)
    db.commit()
    run_jobs()
    _approved(db, project, f"{EVAL_QUESTION}? sample me")
    _approved(db, project, "Explain rainbows, sample me")
    reviewer = make_member(db, project, "rev@example.com", role=engineer.role)
    run = _generate(db, project, engineer, run_jobs, method="pair_candidates",
                    status="submitted")  # fmt: skip
    assert run.counts["dropped_contamination"] == 1 and run.counts["kept"] == 1, run.counts
    (pair,) = _pairs(db, project)
    assert EVAL_QUESTION not in pair.prompt[0]["content"]
    assert pair.status is ItemStatus.submitted
    # someone picks the other side: the content changed, so approval waits for its check
    pairs.swap(db, project, pair.id, engineer, pair.version)
    db.commit()
    with pytest.raises(Forbidden, match="contamination check has not seen"):
        review.decide(db, project, reviewer, ItemKind.pair, pair.id, ReviewDecision.approve,
                      "", pair.version)  # fmt: skip
    db.rollback()
    run_jobs()
    db.refresh(pair)
    decision = review.decide(db, project, reviewer, ItemKind.pair, pair.id,
                             ReviewDecision.approve, "", pair.version)  # fmt: skip
    assert decision.item.status is ItemStatus.approved


def test_a_draft_candidate_is_picked_by_annotators_and_swapped_before_approval(
    db: Session, project: Project, engineer: User, endpoint: tuple[str, Faults, Model],
    run_jobs: RunJobs,
) -> None:  # fmt: skip
    _approved(db, project, "Explain rainbows, sample me")
    annotator = make_member(db, project, "ann@example.com", role=Role.annotator)
    first = make_member(db, project, "rev1@example.com", role=Role.reviewer)
    second = make_member(db, project, "rev2@example.com", role=Role.reviewer)
    run = _generate(db, project, engineer, run_jobs, method="pair_candidates")
    assert run.counts["kept"] == 1
    (pair,) = _pairs(db, project)
    # a draft waits in the annotators' queue: nobody has said which answer is better
    with pytest.raises(Invalid, match="pending"):
        review.decide(db, project, first, ItemKind.pair, pair.id, ReviewDecision.approve, "",
                      pair.version)  # fmt: skip
    found = queue.next_item(db, project, annotator, ItemKind.pair, utcnow(), lease_s=600)
    assert found is not None and found.item.id == pair.id
    answer = SubmitIn(version=pair.version, preference=Preference.rejected)
    labeling.submit(db, project, annotator, Role.annotator, ItemKind.pair, pair.id, answer,
                    utcnow(), lease_s=600)  # fmt: skip
    db.commit()
    db.refresh(pair)
    assert pair.status is ItemStatus.submitted
    # the annotator preferred the other answer: one reviewer swaps, another approves
    better = pair.rejected
    pairs.swap(db, project, pair.id, first, pair.version)
    db.commit()
    with pytest.raises(Forbidden, match="you edited pair"):
        review.decide(db, project, first, ItemKind.pair, pair.id, ReviewDecision.approve, "",
                      pair.version)  # fmt: skip
    db.rollback()
    decision = review.decide(db, project, second, ItemKind.pair, pair.id,
                             ReviewDecision.approve, "", pair.version)  # fmt: skip
    assert decision.item.status is ItemStatus.approved and pair.chosen == better


def test_start_checks_what_pair_candidates_need(
    db: Session, project: Project, engineer: User
) -> None:
    with pytest.raises(ValidationError, match="two different temperatures"):
        GenerateIn.model_validate(
            {"method": "pair_candidates", "temperature_a": 0.7, "temperature_b": 0.7}
        )
    assert GenerateIn.model_validate(
        {"method": "responses", "temperature_a": 0.7, "temperature_b": 0.7}
    )  # other methods do not use them
    with pytest.raises(ValidationError, match="temperature_b"):
        GenerateIn.model_validate({"method": "pair_candidates", "temperature_b": 2.5})
    service.save_settings(db, project, engineer, SettingsIn(base_url="http://x", model="m"))
    start = GenerateIn.model_validate
    with pytest.raises(Invalid, match="no approved example has a user turn"):
        service.start(db, project, engineer, start({"method": "pair_candidates"}))
    with pytest.raises(Invalid, match=r"field example_ids: \[999\] are not examples"):
        service.start(db, project, engineer,
                      start({"method": "pair_candidates", "example_ids": [999]}))  # fmt: skip
    no_user = [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Hi."}]
    system_only = make_example(db, project, no_user)
    with pytest.raises(Invalid, match="have no user turn"):
        service.start(db, project, engineer, start(
            {"method": "pair_candidates", "example_ids": [system_only.id]}))  # fmt: skip
    with pytest.raises(NotFound, match="not generated here"):
        service.pair_provenance(db, project, _made_by_hand(db, project, engineer).id)


def _made_by_hand(db: Session, project: Project, user: User) -> PreferencePair:
    example = make_example(db, project, conversation("Explain dew", "Cool air."))
    return pairs.create_from_example(db, project, user, example.id, "Warm air.", "original")
