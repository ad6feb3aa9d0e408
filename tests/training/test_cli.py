"""`trellis train` with no worker: start --wait submits and follows in-process; status --json,
logs, and cancel of a run that has finished."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.factories import ROOT
from tests.training.tiny_model import sft_rows, write_jsonl
from tests.training.web_fixtures import FAST, RUNNER_ENV


def test_train_start_wait_status_logs(tmp_path: Path, tiny_model: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env.update(RUNNER_ENV, TRELLIS_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))

    def trellis(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args], input=stdin,
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
        )  # fmt: skip

    admin = trellis("user", "create", "--email", "a@example.com", "--role", "admin",
                    stdin="a long admin password\n")  # fmt: skip
    assert admin.returncode == 0, admin.stderr

    made = trellis("project", "create", "tiny")
    assert made.returncode == 0, made.stderr
    source = write_jsonl(tmp_path / "tiny.jsonl", sft_rows())
    imported = trellis("import", "tiny", str(source), "--status", "approved")
    assert imported.returncode == 0, imported.stderr
    exported = trellis("export", "tiny", "--format", "messages", "--out", str(tmp_path / "out"),
                       "--sequence-len", "64")  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    export_id = exported.stdout.strip().split("export ")[-1].split()[0]

    settings = [f"--set={k}={v}" for k, v in FAST.items()]
    wrong = trellis("train", "start", "tiny", "--export", export_id, "--method", "dpo",
                    "--base-model", str(tiny_model), "--gpus", "0", *settings)  # fmt: skip
    assert wrong.returncode == 1 and "trl_preference format" in wrong.stderr

    started = trellis("train", "start", "tiny", "--export", export_id, "--base-model",
                      str(tiny_model), "--gpus", "0", "--wait", *settings)  # fmt: skip
    assert started.returncode == 0, (started.stdout, started.stderr)
    lines = started.stdout.splitlines()
    run_id = lines[0].strip()
    assert run_id.isdigit() and any(line.startswith("[train] step=6") for line in lines)
    assert "succeeded; adapter:" in lines[-1]

    status = trellis("train", "status", run_id, "--json")
    assert status.returncode == 0, status.stderr
    found = json.loads(status.stdout)
    assert found["state"] == "succeeded" and found["last_metrics"]["step"] == 6
    assert Path(found["adapter_path"], "adapter_config.json").is_file()
    logs = trellis("train", "logs", run_id, "--tail", "20")
    assert logs.returncode == 0 and logs.stdout.strip()
    cancel = trellis("train", "cancel", run_id)
    assert cancel.returncode == 1 and "already succeeded" in cancel.stderr
