"""Shared pieces of the training web tests: a real export snapshot of a tiny dataset, and the
run settings that make a few CPU steps on the tiny model quick."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.exports import service as exports
from app.exports.schemas import ExportCreate
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import ExportSnapshot, ItemStatus, Project
from app.training_runs.schemas import ResourcesIn, TrainingCreate
from tests.training.tiny_model import dpo_rows, sft_rows, write_jsonl

#: A few fast CPU steps on the tiny model (the tiny model memorises in a few dozen).
FAST: dict[str, Any] = {
    "max_steps": 6, "learning_rate": 1e-2, "sequence_len": 64, "micro_batch": 4,
    "grad_accum": 1, "optimizer": "adamw_torch", "lr_scheduler": "constant",
    "warmup_ratio": 0.0, "gradient_checkpointing": False, "lora_dropout": 0.0, "seed": 0,
}  # fmt: skip
RUNNER_ENV = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def snapshot_of(
    db: Session, project: Project, tmp_path: Path, export_root: Path, kind: str = "sft"
) -> ExportSnapshot:
    """Import the tiny facts as approved items and export them (messages or trl_preference)."""
    rows = sft_rows() if kind == "sft" else dpo_rows()
    source = write_jsonl(tmp_path / f"tiny_{kind}.jsonl", rows)
    import_file(
        db, project_id=project.id, path=source, user_id=None,
        options=ImportOptions(status=ItemStatus.approved),
        rejects_path=tmp_path / f"rejects_{kind}.jsonl",
    )  # fmt: skip
    db.commit()
    fmt = "messages" if kind == "sft" else "trl_preference"
    snapshot = exports.new_snapshot(db, project, None, ExportCreate(format=fmt, sequence_len=64))
    db.commit()
    snapshot = exports.run(db, snapshot.id, export_root)
    db.commit()
    assert snapshot.state == "ready", (snapshot.state, snapshot.gates, snapshot.error)
    return snapshot


def request(
    snapshot_id: int, model_dir: Path, method: str = "sft", **config: Any
) -> TrainingCreate:
    return TrainingCreate(
        export_id=snapshot_id, method=method, base_model=str(model_dir),  # type: ignore[arg-type]
        resources=ResourcesIn(gpus=0, cpus=1), config={**FAST, **config},
    )  # fmt: skip


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()
