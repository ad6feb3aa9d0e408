"""Where training runs run: one interface (base.TrainingBackend), several backends.

- `local`    a subprocess on this host (local.LocalBackend)
- `ray`      a Ray Job on a cluster (ray_jobs.RayBackend, needs the `ray` extra)
- `kubernetes`, `slurm`, `skypilot`  files written for the user to submit (manual.ManualBackend)

This package imports neither the web app nor the database; it travels to Ray clusters with the
runner. Backends are imported lazily so the wrapper and the runner stay light.
"""

from __future__ import annotations

from typing import Any

from app.training.backends.base import (
    BackendError,
    BackendStatus,
    BackendUnavailable,
    Resources,
    RunState,
    TrainingBackend,
)

BACKENDS = ("local", "ray", "kubernetes", "slurm", "skypilot")
MANUAL_BACKENDS = ("kubernetes", "slurm", "skypilot")

__all__ = [
    "BACKENDS",
    "MANUAL_BACKENDS",
    "BackendError",
    "BackendStatus",
    "BackendUnavailable",
    "Resources",
    "RunState",
    "TrainingBackend",
    "backend_for_handle",
    "get_backend",
]


def get_backend(name: str, **options: Any) -> TrainingBackend:
    """The backend called `name`, configured from `options` and TRELLIS_* variables."""
    if name == "local":
        from app.training.backends.local import LocalBackend

        return LocalBackend(**options)
    if name == "ray":
        from app.training.backends.ray_jobs import RayBackend

        return RayBackend(**options)
    if name in MANUAL_BACKENDS:
        from app.training.backends.manual import ManualBackend

        return ManualBackend(name, **options)  # type: ignore[arg-type]
    raise BackendError(f"unknown training backend {name!r}; choose one of {', '.join(BACKENDS)}")


def backend_for_handle(handle: str, **options: Any) -> TrainingBackend:
    """The backend a stored handle belongs to (what a re-attaching worker calls)."""
    import json

    try:
        name = json.loads(handle)["backend"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"not a training run handle: {handle[:80]!r}") from exc
    return get_backend(str(name), **options)
