"""Production password hashing: the one place the suite pays argon2's real cost.

Everywhere else the suite hashes with tests.factories.CHEAP_HASHER (installed for the session in
tests/conftest.py); these tests put the production hasher back to check what deployments get.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import Parameters, Type, extract_parameters

from app.auth import passwords
from tests.factories import CHEAP_HASHER


@pytest.fixture
def production_hasher() -> Iterator[None]:
    previous = passwords.set_hasher(passwords.PRODUCTION_HASHER)
    yield
    passwords.set_hasher(previous)


@pytest.mark.usefixtures("production_hasher")
def test_production_hashes_are_argon2id_at_rfc_9106_low_memory_cost() -> None:
    stored = passwords.hash_password("correct horse battery staple")
    assert extract_parameters(stored) == Parameters(
        type=Type.ID,
        version=19,
        salt_len=16,
        hash_len=32,
        time_cost=3,
        memory_cost=65536,
        parallelism=4,
    )
    assert passwords.verify_password(stored, "correct horse battery staple")
    assert not passwords.verify_password(stored, "correct horse battery stapler")
    assert not passwords.needs_rehash(stored)


@pytest.mark.usefixtures("production_hasher")
def test_a_cheap_hash_still_verifies_and_is_upgraded_on_next_login() -> None:
    cheap = CHEAP_HASHER.hash("correct horse battery staple")
    assert passwords.verify_password(cheap, "correct horse battery staple")
    assert passwords.needs_rehash(cheap)


def test_the_suite_hashes_cheaply() -> None:
    stored = passwords.hash_password("correct horse battery staple")
    assert extract_parameters(stored).memory_cost == CHEAP_HASHER.memory_cost
