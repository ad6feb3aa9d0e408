"""`trellis feedback import|pair` as a user runs it, on a fresh embedded database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.factories import write_jsonl
from tests.feedback.helpers import LOG, write


def test_feedback_import_and_pair(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env["TRELLIS_DATA_DIR"] = str(tmp_path / "data")

    def trellis(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180,
        )  # fmt: skip

    renamed = [{"q": r.get("prompt"), **{k: v for k, v in r.items() if k != "prompt"}}
               for r in LOG]  # fmt: skip
    other = write_jsonl(tmp_path / "other.jsonl", renamed)
    log = write(tmp_path / "log", LOG, "csv", True)
    script = f"""
import json, sys
from typer.testing import CliRunner
from app.cli import app
runner = CliRunner()
admin = ["user", "create", "--email", "a@example.com", "--role", "admin"]
assert runner.invoke(app, admin, input="a long admin password\\n").exit_code == 0
for args in (["project", "create", "chat"],
             ["feedback", "import", "chat", "{log}", "--json"],
             ["feedback", "import", "chat", "{other}"],
             ["feedback", "import", "chat", "{other}", "--field", "prompt=q", "--json"],
             ["feedback", "import", "chat", "{other}", "--json"],
             ["feedback", "import", "chat", "{other}", "--field", "stars=x"],
             ["feedback", "pair", "chat", "--mode", "best_worst", "--json"],
             ["feedback", "pair", "chat", "--mode", "random"]):
    result = runner.invoke(app, args)
    print(json.dumps([result.exit_code, result.output]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
    codes = [code for code, _ in results]
    assert codes == [0, 0, 1, 0, 0, 2, 0, 2], results
    first = json.loads(results[1][1])
    assert (first["imported"], first["up"], first["down"]) == (8, 4, 3)
    assert "line 2, field prompt" in results[2][1]  # names differ: the line and field are named
    assert json.loads(results[3][1])["duplicates_skipped"] == 8  # same rows, mapped
    assert json.loads(results[4][1])["duplicates_skipped"] == 8  # the mapping was remembered
    assert "unknown field 'stars'" in results[5][1]
    paired = json.loads(results[6][1])
    assert paired["pairs_created"] == 3 and paired["unpaired_entries"] == 2
    helped = trellis("feedback", "--help")
    assert helped.returncode == 0 and "import" in helped.stdout and "pair" in helped.stdout
