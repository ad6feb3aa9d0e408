"""Shared fixtures: one tiny random Llama per test session; the runner's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.tiny_model import build_tiny_model
from tests.training.web_fixtures import RUNNER_ENV


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_model(model_dir: Path) -> Path:
    """The same tiny model, under the name the training web tests use."""
    return model_dir


@pytest.fixture
def runner_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner subprocesses inherit these: one thread each, nothing from the network."""
    for key, value in RUNNER_ENV.items():
        monkeypatch.setenv(key, value)
