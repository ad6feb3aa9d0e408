"""HumanEval-style functional correctness: completion + the set's tests in a sandboxed process.

The program (prompt + completion + tests + ``check(entry_point)``) runs in a fresh Python
process with:

- a time limit (wall clock, the whole process group is killed) and CPU/memory/file-size limits
  (``resource.setrlimit``);
- no network: a new network namespace (``unshare -n``) when running as root where ``unshare``
  exists, and in every case an audit hook that refuses socket creation;
- a fresh temporary directory as cwd, HOME and TMPDIR, and an audit hook that refuses writes,
  renames and deletions outside it, and new processes;
- an empty environment apart from those, ``python -I -B`` (isolated, no bytecode written).

pass@1 with greedy decoding is the share of problems whose single completion passes;
:func:`pass_at_k` is the unbiased estimator (Chen et al. 2021) for n samples.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from math import comb
from pathlib import Path

from app.evaluation.scorers import sandbox_child
from app.evaluation.scorers.base import ItemScore


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0
    memory_bytes: int = 1024 * 1024 * 1024
    file_bytes: int = 16 * 1024 * 1024
    use_network_namespace: bool = True


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    timed_out: bool
    returncode: int | None
    stderr: str


def build_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    return f"{prompt}{completion}\n\n{test}\n\ncheck({entry_point})\n"


def _network_prefix(limits: SandboxLimits) -> list[str]:
    unshare = shutil.which("unshare")
    if limits.use_network_namespace and unshare and os.geteuid() == 0:
        return [unshare, "-n", "--"]
    return []


def run_sandboxed(program: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Run ``program`` under the limits above; passed = exit status 0 within the time limit."""
    limits = limits or SandboxLimits()

    def set_limits() -> None:
        cpu = int(limits.timeout_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    with tempfile.TemporaryDirectory(prefix="trellis-sandbox-") as directory:
        Path(directory, "program.py").write_text(program, encoding="utf-8")
        env = {"HOME": directory, "TMPDIR": directory, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        command = [
            *_network_prefix(limits),
            sys.executable,
            "-I",
            "-B",
            str(Path(sandbox_child.__file__).resolve()),
        ]
        process = subprocess.Popen(  # noqa: S603 - fixed command, untrusted code is in the file
            command,
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=set_limits,
            start_new_session=True,
        )
        try:
            _, stderr = process.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            _, stderr = process.communicate()
            return SandboxResult(False, True, None, stderr.decode(errors="replace")[-2000:])
        text = stderr.decode(errors="replace")[-2000:]
        return SandboxResult(process.returncode == 0, False, process.returncode, text)


def score_code_exec(
    completion: str,
    prompt: str,
    test: str,
    entry_point: str,
    limits: SandboxLimits | None = None,
) -> ItemScore:
    result = run_sandboxed(build_program(prompt, completion, test, entry_point), limits)
    detail: dict[str, object] = {"timed_out": result.timed_out, "returncode": result.returncode}
    if not result.passed:
        detail["stderr"] = result.stderr.strip().splitlines()[-1:] if result.stderr else []
    return ItemScore(1.0 if result.passed else 0.0, None, detail)


def pass_at_k(n: int, correct: int, k: int) -> float:
    """Unbiased pass@k from n samples of which ``correct`` pass."""
    if n - correct < k:
        return 1.0
    return 1.0 - comb(n - correct, k) / comb(n, k)
