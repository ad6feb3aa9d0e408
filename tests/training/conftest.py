"""Fixtures of the training web tests (the runner and backend tests build their own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.tiny_model import build_tiny_model
from tests.training.web_fixtures import RUNNER_ENV


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.fixture
def runner_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner subprocesses inherit these: one thread each, nothing from the network."""
    for key, value in RUNNER_ENV.items():
        monkeypatch.setenv(key, value)
