"""A copy of the runner's code that can travel to a machine without Trellis installed.

`stage_runner_package(dest)` writes DEST/app/__init__.py (empty: the web app's package file is
not needed) and DEST/app/training/ (the runner and these backends), and returns DEST/app. Ray
ships that directory as a `py_modules` entry; the files written for Kubernetes, SLURM and
SkyPilot put it on PYTHONPATH. The runner package imports nothing outside `app.training`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TRAINING_PACKAGE = Path(__file__).resolve().parents[1]  # app/training


def stage_runner_package(dest: Path) -> Path:
    app_dir = dest / "app"
    shutil.rmtree(app_dir, ignore_errors=True)
    app_dir.mkdir(parents=True)
    (app_dir / "__init__.py").write_text('"""Trellis runner package (staged copy)."""\n')
    shutil.copytree(
        TRAINING_PACKAGE,
        app_dir / "training",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return app_dir
