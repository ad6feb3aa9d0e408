"""Training runs from a real export snapshot, through the real local backend and runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.errors import Conflict, Invalid
from app.models import Project, TrainingRun, User
from app.training_runs import lifecycle, repository, service
from tests.factories import RecordingDispatcher
from tests.training.web_fixtures import request, snapshot_of, wait_until


def _create(db: Session, project: Project, user: User, settings: Settings, data) -> TrainingRun:  # type: ignore[no-untyped-def]
    run = service.create(db, project, user, data, data_dir=settings.data_dir,
                         export_root=settings.export_dir)  # fmt: skip
    db.commit()
    return run


def _finish(run_id: int, factory: sessionmaker[Session], timeout: float = 180) -> str:
    states: list[str] = []

    def done() -> bool:
        states.append(lifecycle.poll_run(run_id, factory))
        return states[-1] in ("succeeded", "failed", "cancelled")

    assert wait_until(done, timeout, every=0.5), states[-3:]
    return states[-1]


@pytest.mark.usefixtures("runner_env")
def test_sft_then_dpo_from_its_adapter(
    db: Session, project: Project, engineer: User, settings: Settings, tmp_path: Path,
    tiny_model: Path, dispatcher: RecordingDispatcher, run_jobs, session_factory,  # type: ignore[no-untyped-def]
) -> None:  # fmt: skip
    snapshot = snapshot_of(db, project, tmp_path, settings.export_dir)
    run = _create(db, project, engineer, settings, request(snapshot.id, tiny_model))
    assert run.state == "queued" and run.job_id in dispatcher.sent
    run_dir = Path(run.run_dir)
    assert run_dir == (settings.data_dir / "training" / str(run.id)).resolve()
    exported = settings.export_dir / str(snapshot.directory) / "sft_train.jsonl"
    assert os.stat(run_dir / "data" / "sft_train.jsonl").st_ino == os.stat(exported).st_ino
    config = json.loads((run_dir / "config.json").read_text())
    sha = snapshot.manifest["files"]["sft_train.jsonl"]["sha256"]
    assert config["data_files"] == [
        {"path": "data/sft_train.jsonl", "split": "train", "sha256": sha}
    ]
    assert config["lora"]["rank"] == 16 and config["max_steps"] == 6
    assert run.memory is not None and run.memory["answer"] == "fits a 8 GB GPU"

    run_jobs()  # the submit job: the local backend starts the runner, the handle is stored
    db.expire_all()
    submitted = repository.get(db, run.id)
    assert submitted is not None and submitted.handle and submitted.state == "running"
    assert json.loads(submitted.handle)["backend"] == "local"

    assert _finish(run.id, session_factory) == "succeeded"
    db.expire_all()
    done = service.get(db, project, run.id)
    assert done.summary is not None and done.summary["state"] == "succeeded"
    assert done.adapter_path and (Path(done.adapter_path) / "adapter_config.json").is_file()
    rows = service.metrics(db, done)
    assert [m.seq for m in rows] == list(range(len(rows))) and done.metrics_count == len(rows)
    losses = [m.row["loss"] for m in rows if m.event == "train" and m.row.get("loss") is not None]
    assert len(losses) == 6 and done.last_metrics and done.last_metrics["step"] == 6
    assert done.finished_at is not None and done.log_tail is not None
    # polling again stores nothing twice
    assert lifecycle.poll_run(run.id, session_factory) == "succeeded"
    assert len(service.metrics(db, done)) == len(rows)

    pairs = snapshot_of(db, project, tmp_path, settings.export_dir, kind="dpo")
    dpo_request = request(pairs.id, tiny_model, method="dpo")
    dpo = _create(
        db, project, engineer, settings, dpo_request.model_copy(update={"init_run_id": run.id})
    )
    dpo_dir = Path(dpo.run_dir)
    assert (dpo_dir / "init" / "adapter" / "adapter_config.json").is_file()
    assert json.loads((dpo_dir / "config.json").read_text())["init_adapter"] == "init/adapter"
    assert dpo.init_run_id == run.id
    run_jobs()
    assert _finish(dpo.id, session_factory) == "succeeded", repository.get(db, dpo.id).log_tail  # type: ignore[union-attr]


def test_a_changed_file_is_refused_by_name(
    db: Session, project: Project, engineer: User, settings: Settings, tmp_path: Path,
    tiny_model: Path, dispatcher: RecordingDispatcher,
) -> None:  # fmt: skip
    snapshot = snapshot_of(db, project, tmp_path, settings.export_dir)
    path = settings.export_dir / str(snapshot.directory) / "sft_train.jsonl"
    path.write_text(path.read_text() + '{"messages": []}\n')
    with pytest.raises(Invalid, match=r"sft_train\.jsonl does not match its manifest"):
        service.create(db, project, engineer, request(snapshot.id, tiny_model),
                       data_dir=settings.data_dir, export_root=settings.export_dir)  # fmt: skip
    assert not dispatcher.sent
    assert service.list_for(db, project) == []


def test_method_must_fit_the_export_format(
    db: Session, project: Project, engineer: User, settings: Settings, tmp_path: Path,
    tiny_model: Path, dispatcher: RecordingDispatcher,
) -> None:  # fmt: skip
    sft = snapshot_of(db, project, tmp_path, settings.export_dir)
    with pytest.raises(Invalid, match="export the project again with the trl_preference format"):
        service.create(db, project, engineer, request(sft.id, tiny_model, method="dpo"),
                       data_dir=settings.data_dir, export_root=settings.export_dir)  # fmt: skip
    pairs = snapshot_of(db, project, tmp_path, settings.export_dir, kind="dpo")
    with pytest.raises(Invalid, match="export the project again with the messages format"):
        service.create(db, project, engineer, request(pairs.id, tiny_model, method="sft"),
                       data_dir=settings.data_dir, export_root=settings.export_dir)  # fmt: skip


def test_validation_names_the_field(
    db: Session, project: Project, settings: Settings, tmp_path: Path, tiny_model: Path
) -> None:
    snapshot = snapshot_of(db, project, tmp_path, settings.export_dir)
    with pytest.raises(Invalid) as bad_alpha:
        service.build_config(request(snapshot.id, tiny_model, lora_alpha=0), snapshot)
    assert "lora_alpha" in bad_alpha.value.details["fields"]
    with pytest.raises(Invalid, match="GaLore"):
        service.build_config(request(snapshot.id, tiny_model, optimizer="galore_adamw"), snapshot)
    with pytest.raises(Invalid, match="c_attn not found") as bad_target:
        service.build_config(request(snapshot.id, tiny_model, lora_targets=["c_attn"]), snapshot)
    assert bad_target.value.details["field"] == "lora_targets"
    config = service.build_config(request(snapshot.id, tiny_model, lora_rank=12), snapshot)
    assert config.lora_rank == 12  # a power of two is not required
    default = request(snapshot.id, tiny_model).model_copy(update={"config": {}})
    assert service.build_config(default, snapshot).sequence_len == 64  # the export's
    hub = service.memory_of(service.build_config(
        default.model_copy(update={"base_model": "org/not-here"}), snapshot))  # fmt: skip
    assert hub["total_gib"] is None and "no estimate" in hub["answer"]


def test_cancel_before_submit_and_after_finish(
    db: Session, project: Project, engineer: User, settings: Settings, tmp_path: Path,
    tiny_model: Path, dispatcher: RecordingDispatcher, run_jobs,  # type: ignore[no-untyped-def]
) -> None:  # fmt: skip
    snapshot = snapshot_of(db, project, tmp_path, settings.export_dir)
    run = _create(db, project, engineer, settings, request(snapshot.id, tiny_model))
    service.request_cancel(db, run)
    db.commit()
    assert run.state == "cancelled"
    run_jobs()  # the submit job finds nothing to submit
    db.expire_all()
    again = service.get(db, project, run.id)
    assert again.state == "cancelled" and again.handle is None
    with pytest.raises(Conflict):
        service.request_cancel(db, again)
