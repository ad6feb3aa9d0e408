"""What the training API takes and gives."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Backend = Literal["local", "ray", "kubernetes", "slurm", "skypilot"]


class ResourcesIn(BaseModel):
    """What the run asks of the backend."""

    gpus: int = Field(default=1, ge=0, le=64, description="whole GPUs (0: train on CPU)")
    cpus: float = Field(default=4.0, gt=0, le=512)
    memory_gb: float | None = Field(default=None, gt=0)
    gpu_type: str | None = Field(default=None, max_length=64, description="e.g. A100-80GB")
    time_limit_minutes: int | None = Field(default=None, gt=0)


class TrainingCreate(BaseModel):
    export_id: int = Field(description="a ready export snapshot of this project")
    method: Literal["sft", "dpo"] = "sft"
    base_model: str = Field(min_length=1, max_length=500, description="local dir or hub id")
    preset: Literal["qlora", "lora", "full"] = "qlora"
    backend: Backend = "local"
    init_run_id: int | None = Field(
        default=None, description="DPO: start from this finished SFT run's adapter"
    )
    resources: ResourcesIn = Field(default_factory=ResourcesIn)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="any RunConfig field over the preset's defaults (lora_rank, learning_rate…)",
    )


class MemoryOut(BaseModel):
    total_gib: float | None
    answer: str
    breakdown_gib: dict[str, float] = Field(default_factory=dict)
    trainable_params: int | None = None


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    snapshot_id: int | None
    method: str
    base_model: str
    preset: str
    backend: str
    state: str
    cancel_requested: bool
    config: dict[str, Any]
    resources: dict[str, Any]
    memory: dict[str, Any] | None
    init_run_id: int | None
    error: str | None
    detail: str | None
    summary: dict[str, Any] | None
    last_metrics: dict[str, Any] | None
    metrics_count: int
    adapter_path: str | None
    run_dir: str
    job_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class MetricOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    step: int | None
    event: str
    row: dict[str, Any]


class LogsOut(BaseModel):
    run_id: int
    state: str
    text: str
