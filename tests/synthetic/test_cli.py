"""`trellis generate` as a user runs it: a fresh embedded database, the scripted model over real
HTTP, the run executed here with --wait."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.synthetic.server import model_server


def test_generate_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env["TRELLIS_DATA_DIR"] = str(tmp_path / "data")

    def trellis(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args], input=stdin,
            capture_output=True, text=True, cwd=Path(__file__).parents[2], env=env, timeout=180,
        )  # fmt: skip

    admin = ("user", "create", "--email", "a@example.com", "--role", "admin")
    assert trellis(*admin, stdin="a long admin password\n").returncode == 0
    assert trellis("project", "create", "gen", "--name", "Gen").returncode == 0
    with model_server() as (url, _, _):
        done = trellis(
            "generate", "gen", "--count", "3", "--seed-task", "Explain how tides work",
            "--base-url", url, "--model", "scripted", "--wait",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "kept=3" in done.stdout and "dropped_rouge=" in done.stdout


def test_generate_command_refuses_bad_options_before_touching_anything() -> None:
    from typer.testing import CliRunner

    from app.cli import app

    result = CliRunner().invoke(app, ["generate", "gen", "--status", "approved"])
    assert result.exit_code == 2 and "--status" in result.output


def test_generate_command_refuses_one_temperature_for_pair_candidates() -> None:
    from typer.testing import CliRunner

    from app.cli import app

    args = ["generate", "gen", "--method", "pair_candidates", "--temperature-a", "0.5",
            "--temperature-b", "0.5"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--temperature-b" in result.output
    assert "two different temperatures" in result.output
