"""A bounded schemathesis run over every API operation: no input answers 5xx.

It runs as an admin (so every operation gets past its policy) on a scratch project with a few
items, inside the test's rolled-back transaction. Operations that would lock the run out
(creating or changing users, revoking tokens) are left out. `TRELLIS_FUZZ_EXAMPLES` bounds the
examples per operation (default 8: about a minute for the whole API on SQLite).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from sqlalchemy.orm import Session

from app.models import Project, User
from tests.factories import bearer, make_examples, make_pairs

EXAMPLES = int(os.environ.get("TRELLIS_FUZZ_EXAMPLES", "8"))


SKIPPED = {  # would lock the run out or delete what it stands on
    ("POST", "/api/users"),
    ("PATCH", "/api/users/{user_id}"),
    ("DELETE", "/api/tokens/{token_id}"),
}


@pytest.mark.fuzz
def test_no_operation_answers_a_server_error(
    client: TestClient, db: Session, app: FastAPI, admin: User, project: Project
) -> None:
    make_examples(db, project, 3)
    make_pairs(db, project, 2)
    headers = bearer(client, db, admin)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    failures: list[str] = []
    operations = 0
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case: Any) -> None:
            if "slug" in (case.path_parameters or {}):
                case.path_parameters["slug"] = "demo"  # the scratch project: reach the routes
            response = case.call(headers=headers)
            statuses[response.status_code // 100] = statuses.get(response.status_code // 100, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"{case.body!r:.200} {response.text[:200]}")  # fmt: skip

        run()
    assert operations > 60
    assert statuses.get(2, 0) > operations, statuses  # the calls got through, not just refused
    assert not failures, "\n".join(failures[:20])
