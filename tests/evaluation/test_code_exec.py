"""code_exec on real HumanEval rows, and the sandbox's walls: writes, sockets, time."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.evaluation.scorers.code_exec import (
    SandboxLimits,
    build_program,
    pass_at_k,
    run_sandboxed,
    score_code_exec,
)
from tests.evaluation.test_scorers import humaneval_rows

FAST = SandboxLimits(timeout_s=5.0)


def test_humaneval_right_wrong_malformed() -> None:
    row = humaneval_rows()[0]
    args = (row["prompt"], row["test"], row["entry_point"])
    assert score_code_exec(row["canonical_solution"], *args, limits=FAST).passed
    wrong = score_code_exec("    return False\n", *args, limits=FAST)
    assert not wrong.passed and wrong.detail["returncode"] != 0
    malformed = score_code_exec("    return (((\n", *args, limits=FAST)
    assert not malformed.passed
    assert "SyntaxError" in " ".join(malformed.detail["stderr"])


def _escape(body: str) -> str:
    """A HumanEval-shaped program whose 'solution' tries something, and whose test passes only
    when that something succeeded."""
    prompt = "def attempt():\n"
    completion = "".join(f"    {line}\n" for line in body.splitlines()) + "    return True\n"
    test = "def check(candidate):\n    assert candidate() is True\n"
    return build_program(prompt, completion, test, "attempt")


def test_cannot_write_outside_its_directory(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    result = run_sandboxed(_escape(f"open({str(target)!r}, 'w').write('x')"), FAST)
    assert not result.passed and "PermissionError" in result.stderr
    assert not target.exists()
    # os-level creation and renames are refused too
    result = run_sandboxed(_escape(f"import os\nos.mkdir({str(tmp_path / 'd')!r})"), FAST)
    assert not result.passed and not (tmp_path / "d").exists()
    # writing inside the sandbox directory (cwd, HOME) is allowed
    inside = "import os\nopen('scratch.txt', 'w').write('x')\n"
    inside += "open(os.path.join(os.environ['HOME'], 'h.txt'), 'w').write('y')"
    assert run_sandboxed(_escape(inside), FAST).passed


def test_cannot_open_a_socket() -> None:
    body = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)"
    result = run_sandboxed(_escape(body), FAST)
    assert not result.passed and "socket" in result.stderr
    connect = "import socket\nsocket.create_connection(('127.0.0.1', 5432), timeout=1)"
    assert not run_sandboxed(_escape(connect), FAST).passed


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_network_namespace_has_no_interfaces_but_loopback() -> None:
    # Even reading the interface list (no socket) shows only "lo" inside the namespace.
    body = "names = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]\n"
    body += "assert names == ['lo'], names"
    assert run_sandboxed(_escape(body), FAST).passed


def test_cannot_start_processes() -> None:
    result = run_sandboxed(_escape("import os\nos.system('true')"), FAST)
    assert not result.passed and "os.system" in result.stderr


def test_time_limit_kills_it() -> None:
    started = time.perf_counter()
    result = run_sandboxed(_escape("while True:\n    pass"), SandboxLimits(timeout_s=1.5))
    elapsed = time.perf_counter() - started
    assert result.timed_out and not result.passed
    assert elapsed < 5


def test_memory_limit() -> None:
    limits = SandboxLimits(timeout_s=5.0, memory_bytes=256 * 1024 * 1024)
    result = run_sandboxed(_escape("x = bytearray(1024 * 1024 * 1024)"), limits)
    assert not result.passed and "MemoryError" in result.stderr


def test_pass_at_k() -> None:
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(1, 0, 1) == 0.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(5, 4, 2) == 1.0
