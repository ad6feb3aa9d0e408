"""The project's judge endpoint in evaluation runs, against a real judge server on 127.0.0.1:
a judge set's win rate of tune over base (both orders, position bias cancelled) with its
interval and gate, the refusal scorer's judge confirmation, the key read from the environment
variable the policy names (and stored nowhere), and a set that needs a judge refused at run
creation when none is configured."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.eval_runs import execute, service
from app.evaluation.generation.base import Generation, Prompt
from app.jobs import service as jobs
from app.models import (
    EvalGatePolicy,
    EvalSet,
    EvaluationResult,
    EvaluationRun,
    Job,
    Project,
    User,
)
from tests.eval_runs.conftest import ANSWERS, Scripted
from tests.evaluation.openai_server import serve
from tests.factories import RunJobs, bearer, login

KEY_ENV = "TRELLIS_JUDGE_TEST_KEY"
SECRET = "sk-judge-never-stored-42"


def _section(text: str, name: str, end: str) -> str:
    return text.split(f"[{name}]\n", 1)[1].split(end, 1)[0].strip()


def _right(question: str, answer: str) -> bool:
    return re.search(rf"\b{ANSWERS[question]}\b", answer) is not None


def judge_app(asked: list[str]) -> FastAPI:
    """A judge that knows the sums: it prefers the right answer; when both or neither are
    right it says "A" (pure position bias, which asking both ways must turn into a tie).
    Refusal asks: YES unless the response laughs."""
    app = FastAPI()
    lock = threading.Lock()

    @app.post("/v1/chat/completions")
    def chat(body: dict[str, Any], authorization: str | None = Header(None)) -> dict[str, Any]:
        if authorization != f"Bearer {SECRET}":
            raise HTTPException(401, "bad key")
        content = str(body["messages"][-1]["content"])
        with lock:
            asked.append(content)
        if "[Answer A]" in content:
            question = _section(content, "Request", "\n\n[Answer A]")
            a = _right(question, _section(content, "Answer A", "\n\n[Answer B]"))
            b = _right(question, _section(content, "Answer B", "\n\nWhich answer"))
            verdict = "B" if b and not a else "A"
        else:
            verdict = "NO" if "laugh" in _section(content, "Response", "\n\nAnswer on") else "YES"
        message = {"role": "assistant", "content": f"Thinking...\nVerdict: {verdict}"}
        return {"choices": [{"index": 0, "message": message}], "usage": {"completion_tokens": 4}}

    return app


def _policy(client: TestClient, project: Project, headers: dict[str, str]) -> dict[str, Any]:
    got = client.get(f"/api/projects/{project.slug}/evaluation/policy", headers=headers)
    assert got.status_code == 200, got.text
    return dict(got.json())


def _put(
    client: TestClient, project: Project, headers: dict[str, str], body: dict[str, Any]
) -> Any:
    return client.put(f"/api/projects/{project.slug}/evaluation/policy", json=body, headers=headers)


def _start(client: TestClient, project: Project, headers: dict[str, str], run_id: int) -> Any:
    body = {"model_kind": "adapter", "training_run_id": run_id}
    return client.post(f"/api/projects/{project.slug}/evaluation/runs", json=body, headers=headers)


def test_judge_set_win_rate_gate_and_report(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet,
    stand_in_run: Any, scripted: None, run_jobs: RunJobs, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    mine = bearer(client, db, engineer)
    policy = _policy(client, project, mine)
    policy["sets"][str(arith_set.id)].update(scorer="judge")
    assert _put(client, project, mine, policy).status_code == 200
    refused = _start(client, project, mine, stand_in_run.id)
    assert refused.status_code == 422, refused.text
    assert "'Arith'" in refused.json()["message"] and "judge endpoint" in refused.json()["message"]

    monkeypatch.setenv(KEY_ENV, SECRET)
    asked: list[str] = []
    with serve(judge_app(asked)) as url:
        judge = {"judge_url": url, "judge_model": "judge", "judge_api_key_env": KEY_ENV}
        saved = _put(client, project, mine, {**policy, **judge, "min_judge_win_rate": 0.6})
        assert saved.status_code == 200, saved.text
        started = _start(client, project, mine, stand_in_run.id)
        assert started.status_code == 202, started.text
        run_jobs()
    run = db.get(EvaluationRun, started.json()["id"])
    assert run is not None
    db.refresh(run)
    assert run.state == "succeeded", run.error
    # Scripted: the tune is right on 7 of 8 sums, the base (system prompt) on the other one.
    assert len(asked) == 16  # 8 pairs, each asked in both orders
    (summary,) = run.report["sets"]  # type: ignore[index]
    assert summary["role"] == "judge" and summary["tune"]["mean"] == pytest.approx(7 / 8)
    assert summary["tune"]["low"] < 7 / 8 <= summary["tune"]["high"] and summary["tune"]["n"] == 8
    assert summary["judge"] == {"opponent": "base:system", "wins": 7, "ties": 0, "losses": 1}
    (gate,) = run.report["gates"]  # type: ignore[index]
    assert gate["name"] == "judge_win_rate" and gate["passed"] and gate["threshold"] == 0.6
    assert run.verdict == "ship_tune"
    rows = db.query(EvaluationResult).filter_by(run_id=run.id).all()
    assert sorted({r.model for r in rows}) == ["base:system", "tune"] and len(rows) == 16
    loss = next(r for r in rows if r.model == "tune" and r.score == 0.0)
    assert loss.detail == {"by": "judge", "forward": "B", "backward": "A"}
    stored = [getattr(run, c.name) for c in EvaluationRun.__table__.columns]
    assert SECRET not in json.dumps(stored, default=str)
    row = db.query(EvalGatePolicy).filter_by(project_id=project.id).one()
    assert row.judge_api_key_env == KEY_ENV and SECRET not in json.dumps(
        [getattr(row, c.name) for c in EvalGatePolicy.__table__.columns], default=str
    )

    page = client.get(f"/projects/{project.slug}/evaluation/{run.id}", headers=mine)
    assert page.status_code == 200
    assert "judge win rate" in page.text and "judged vs base:system: 7 won" in page.text


def test_policy_rejects_half_a_judge_and_a_key_in_place_of_its_name(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet
) -> None:
    mine = bearer(client, db, engineer)
    policy = _policy(client, project, mine)
    cases = [
        ({"judge_url": "http://127.0.0.1:1"}, "judge_model"),
        ({"judge_url": "ftp://x", "judge_model": "j"}, "http"),
        (
            {"judge_url": "http://x", "judge_model": "j", "judge_api_key_env": SECRET},
            "environment variable",
        ),
        ({"min_judge_win_rate": 1.5}, "min_judge_win_rate"),
    ]
    for body, message in cases:
        answer = _put(client, project, mine, {**policy, **body})
        assert answer.status_code == 422 and message in answer.text, (body, answer.text)
    policy["sets"][str(arith_set.id)].update(scorer="exact_match", judge_refusals=True)
    answer = _put(client, project, mine, policy)
    assert answer.status_code == 422 and "judge_refusals" in answer.text


class Refuser(Scripted):
    """The tune refuses every sum, once with a "refusal" that then complies."""

    def generate(
        self, prompts: Sequence[Prompt], max_new_tokens: int, greedy: bool = True
    ) -> list[Generation]:
        if self.which == "base":
            return super().generate(prompts, max_new_tokens, greedy)
        out = []
        for prompt in prompts:
            question = prompt if isinstance(prompt, str) else prompt[-1]["content"]
            text = (
                "I can't help but laugh: 5" if question == "2 + 3 =" else "I can't help with that."
            )
            out.append(Generation(text, 5, 0.01))
        return out


def test_refusals_confirmed_by_the_judge(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet,
    stand_in_run: Any, run_jobs: RunJobs, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(execute, "make_backend", lambda plan, which: Refuser(which))
    mine = bearer(client, db, engineer)
    policy = _policy(client, project, mine)
    policy["sets"][str(arith_set.id)].update(role="safety", scorer="refusal", judge_refusals=True)
    assert _put(client, project, mine, policy).status_code == 200
    refused = _start(client, project, mine, stand_in_run.id)
    assert refused.status_code == 422 and "refusals confirmed by the judge" in refused.text

    monkeypatch.setenv(KEY_ENV, SECRET)
    asked: list[str] = []
    with serve(judge_app(asked)) as url:
        judge = {"judge_url": url, "judge_model": "judge", "judge_api_key_env": KEY_ENV}
        assert _put(client, project, mine, {**policy, **judge}).status_code == 200
        started = _start(client, project, mine, stand_in_run.id)
        run_jobs()
    run = db.get(EvaluationRun, started.json()["id"])
    assert run is not None
    db.refresh(run)
    assert run.state == "succeeded", run.error
    assert len(asked) == 8  # only the tune's pattern hits are asked; the base never refuses
    (gate,) = run.report["gates"]  # type: ignore[index]
    assert gate["name"] == "safety" and gate["value"] == pytest.approx(7 / 8)
    assert not gate["passed"]  # 87.5 % < 90 %: the laugh was not a refusal
    laugh = next(
        r for r in db.query(EvaluationResult).filter_by(run_id=run.id, model="tune")
        if "laugh" in r.output
    )  # fmt: skip
    assert laugh.score == 0.0 and laugh.detail["reason"] == "judge: not a refusal"


def test_settings_page_sets_the_judge_and_names_its_fields(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet
) -> None:
    token = login(client, engineer.email)
    url = f"/projects/{project.slug}/evaluation/settings"
    page = client.get(url)
    assert "Judge endpoint" in page.text and 'name="judge_api_key_env"' in page.text
    form = dict(re.findall(r'<input name="([^"]+)" value="([^"]*)"', page.text))
    p = f"set-{arith_set.id}-"
    form.update({f"{p}role": "safety", f"{p}scorer": "refusal", f"{p}judge_refusals": "1",
                 "judge_url": "http://judge.internal:8000", "judge_model": "qwen-judge",
                 "judge_api_key_env": KEY_ENV, "min_judge_win_rate": "0.55",
                 "csrf_token": token})  # fmt: skip
    saved = client.post(url, data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    policy = service.get_policy(db, project)
    assert (policy.judge_url, policy.judge_model, policy.judge_api_key_env) == (
        "http://judge.internal:8000", "qwen-judge", KEY_ENV)  # fmt: skip
    assert policy.min_judge_win_rate == 0.55 and policy.sets[arith_set.id].judge_refusals
    assert "checked" in client.get(url).text

    refused = client.post(url, data={**form, "judge_model": "", f"{p}scorer": "exact_match"})
    assert refused.status_code == 422
    assert 'id="judge_model-error"' in refused.text
    assert f'id="{p}judge_refusals-error"' in refused.text


class WorkerDied(BaseException):
    """A SIGKILL seen from inside: nothing after it runs."""


class Dying(Scripted):
    calls: list[str] = []
    die_on: int | None = None

    def generate(
        self, prompts: Sequence[Prompt], max_new_tokens: int, greedy: bool = True
    ) -> list[Generation]:
        if Dying.die_on is not None and len(Dying.calls) + 1 == Dying.die_on:
            raise WorkerDied
        Dying.calls.append(self.which)
        return super().generate(prompts, max_new_tokens, greedy)


def test_a_judged_set_resumes_without_judging_twice(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet,
    stand_in_run: Any, run_jobs: RunJobs, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(execute, "make_backend", lambda plan, which: Dying(which))
    monkeypatch.setattr(execute, "CHUNK_SIZE", 4)
    monkeypatch.setenv(KEY_ENV, SECRET)
    Dying.calls, Dying.die_on = [], 3  # chunk 1: tune, base, judged and stored; dies on chunk 2
    mine = bearer(client, db, engineer)
    policy = _policy(client, project, mine)
    policy["sets"][str(arith_set.id)].update(scorer="judge")
    asked: list[str] = []
    with serve(judge_app(asked)) as url:
        judge = {"judge_url": url, "judge_model": "judge", "judge_api_key_env": KEY_ENV}
        assert _put(client, project, mine, {**policy, **judge}).status_code == 200
        run_id = _start(client, project, mine, stand_in_run.id).json()["id"]
        with pytest.raises(WorkerDied):
            run_jobs()
        first = {(r.model, r.eval_item_id): r.id
                 for r in db.query(EvaluationResult).filter_by(run_id=run_id)}  # fmt: skip
        assert len(first) == 8 and len(asked) == 8  # 4 pairs, both orders
        job = db.query(Job).filter_by(kind="evaluation_run").one()
        assert jobs.reap(db, stale_after_s=0, max_attempts=3) == [job.id]
        db.commit()
        Dying.die_on = None
        run_jobs()
    assert len(asked) == 16  # only the 4 unjudged pairs were asked again
    rows = db.query(EvaluationResult).filter_by(run_id=run_id).all()
    assert len(rows) == 16
    assert all(first[(r.model, r.eval_item_id)] == r.id for r in rows
               if (r.model, r.eval_item_id) in first)  # fmt: skip
    run = db.get(EvaluationRun, run_id)
    assert run is not None
    db.refresh(run)
    assert run.state == "succeeded" and run.done == run.total == 16
    assert run.report["sets"][0]["tune"]["mean"] == pytest.approx(7 / 8)  # type: ignore[index]
