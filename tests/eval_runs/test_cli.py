"""`trellis eval` as CI runs it, on a fresh embedded database: the table and the verdict, exit 0
when every gate passes (the tune), 1 when one fails (the base model's prompt alone), 2 on a
usage or input error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.config import get_settings
from app.db import get_engine, get_session_factory, session_scope
from app.eval_runs import service
from app.eval_runs.schemas import EvalSetSettingsIn, GatePolicyUpdate
from app.evalsets import service as evalsets
from app.jobs import dispatch
from app.migrate import upgrade
from app.models import EvaluationRun, Role, TrainingRun
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from tests.eval_runs.conftest import arith_records
from tests.evaluation.arith import SYSTEM_PROMPT
from tests.factories import RecordingDispatcher, write_jsonl

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def _clear() -> None:
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_session_factory.cache_clear()


@pytest.fixture
def embedded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_dir: Path, adapter_dir: Path
) -> Iterator[int]:
    """A project "calc" with the frozen arithmetic set and a training run of the tune, in the
    embedded database the CLI opens; yields the training run's id."""
    monkeypatch.setenv("TRELLIS_DATA_DIR", str(tmp_path / "data"))
    _clear()
    previous = dispatch.set_dispatcher(RecordingDispatcher())
    upgrade(get_settings().effective_database_url)
    with session_scope(write=True) as db:
        user = users.create_user(db, email="e@example.com", password="a long password here",
                                 role=Role.engineer)  # fmt: skip
        project = projects.create(db, user, ProjectCreate(slug="calc", name="Calc",
                                                          system_prompt=SYSTEM_PROMPT))  # fmt: skip
        path = write_jsonl(tmp_path / "arith.jsonl", arith_records())
        eval_set = evalsets.create_from_file(db, project, user, name="Arith", path=path)
        evalsets.freeze(db, eval_set, user)
        service.update_policy(db, project, user, GatePolicyUpdate(
            default_min_score=0.75, default_min_gain=0.5,
            sets={eval_set.id: EvalSetSettingsIn(max_new_tokens=6)}))  # fmt: skip
        run = TrainingRun(project_id=project.id, method="sft", base_model=str(model_dir),
                          preset="lora", config={}, state="succeeded",
                          adapter_path=str(adapter_dir), run_dir="")  # fmt: skip
        db.add(run)
        db.flush()
        run_id = run.id
    yield run_id
    get_engine().dispose()
    dispatch.set_dispatcher(previous)
    _clear()


def test_exit_codes_table_and_verdict(embedded: int, model_dir: Path) -> None:
    cli = CliRunner()
    tune = cli.invoke(app, ["eval", "calc", "--model", str(model_dir), "--adapter",
                            str(embedded), "--eval-set", "arith", "--prompt", "plain"])  # fmt: skip
    assert tune.exit_code == 0, tune.output
    assert "verdict: Ship the tune" in tune.output
    assert "PASS  min_gain (arith)" in tune.output and "FAIL" not in tune.output

    base = cli.invoke(app, ["eval", "calc", "--model", str(model_dir)])
    assert base.exit_code == 1, base.output
    assert "FAIL  min_score (arith)" in base.output and "verdict: Not ready" in base.output

    with session_scope() as db:
        stored = db.query(EvaluationRun).order_by(EvaluationRun.id).all()
        assert [(r.model_kind, r.passed) for r in stored] == [("adapter", True), ("prompt", False)]

    for args, message in (
        (["eval", "nope", "--model", str(model_dir)], "project 'nope' not found"),
        (["eval", "calc", "--model", str(model_dir), "--eval-set", "gsm8k"], "frozen sets: arith"),
        (["eval", "calc", "--model", "/no/such/dir"], "not a local model directory"),
        (["eval", "calc", "--model", str(model_dir), "--prompt", "best"], "prompt_variant"),
        (["eval", "calc", "--model", str(model_dir), "--adapter", "999"], "training run 999"),
        (["eval", "calc"], "--model"),
    ):
        result = cli.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
