"""A chat template cannot take the server down (point 2 of the hardening issue): limits on
time, output size, recursion and memory, and request-time checks in a killable child process."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.exports import template_limits
from app.exports.chat_templates import TemplateError, from_source, render
from app.exports.template_limits import TemplateLimitError, TemplateLimits, isolated
from app.models import Project, User
from tests.factories import bearer

FAST = TemplateLimits(timeout_s=0.5, max_output_chars=100_000, memory_bytes=512 * 1024**2)
CHAT = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
NESTED_LOOPS = (
    "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    "{% for m in messages %}{{ m.content }}{% endfor %}"
)
HUGE_STRING = "{{ 'x' * 400000000 }}{% for m in messages %}{{ m.content }}{% endfor %}"
RECURSIVE = "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"
TOO_MUCH_OUTPUT = "{% for i in range(50000) %}{{ messages[0].content * 10 }}{% endfor %}"
CENTERED = "{{ messages[0].content | center(400000000) }}"


@pytest.fixture(autouse=True)
def fast_limits() -> Iterator[None]:
    token = template_limits.use_limits(FAST)
    yield
    template_limits._BUDGET_LIMITS.reset(token)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (NESTED_LOOPS, "took too long"),
        (HUGE_STRING, "over the output limit"),
        (RECURSIVE, "recursed too deeply"),
        (TOO_MUCH_OUTPUT, "wrote more than 100,000 characters"),
        (CENTERED, "over the output limit"),
        ("{{ 7 ** 99999999 }}", "exponent"),
    ],
)
def test_runaway_templates_stop_with_a_template_error(source: str, expected: str) -> None:
    template = from_source("ok", "{% for m in messages %}{{ m.content }}{% endfor %}")
    runaway = type(template)("runaway", source, "", "", supports_system=True)
    started = time.monotonic()
    with pytest.raises(TemplateError, match=expected):
        render(runaway, CHAT)
    assert time.monotonic() - started < 3 * FAST.timeout_s + 1


def test_an_ordinary_custom_template_still_renders() -> None:
    template = from_source(
        "plain", "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    )
    assert render(template, CHAT).text == "<user>hi<assistant>hello"


def test_the_isolated_check_is_killed_at_its_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(TemplateLimitError, match=r"took longer than 0\.5 s"):
        isolated(time.sleep, 60, limits=FAST)
    assert time.monotonic() - started < 15


def test_the_isolated_check_has_a_memory_limit() -> None:
    with pytest.raises(TemplateLimitError, match="memory"):
        isolated(bytearray, 2 * 1024**3, limits=FAST)


def test_an_export_request_with_a_runaway_template_is_refused_quickly(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    headers = bearer(client, db, engineer)
    started = time.monotonic()
    response = client.post(
        "/api/projects/demo/exports",
        json={"format": "text", "custom_template": {"name": "loops", "source": NESTED_LOOPS,
                                                     "bos_token": "", "eos_token": ""}},
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert "long" in response.json()["message"]  # the render's deadline, or the child's
    assert time.monotonic() - started < 20
    assert client.get("/healthz").status_code == 200
