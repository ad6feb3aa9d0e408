"""Every test here encodes through the session-wide memo (see tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _memoised_encoder(quick_encoder: None) -> None:
    return None
