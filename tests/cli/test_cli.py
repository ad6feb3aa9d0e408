"""The `trellis` CLI as a user runs it: a fresh embedded database, stdin password, import, stats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import SHARED_DATA


@pytest.fixture
def trellis(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env["TRELLIS_DATA_DIR"] = str(tmp_path / "data")

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            input=stdin, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
        )  # fmt: skip

    return run


def test_every_command_has_help(trellis) -> None:  # type: ignore[no-untyped-def]
    commands = (
        [], ["serve"], ["worker"], ["db", "upgrade"], ["user", "create"], ["token", "create"],
        ["project", "create"], ["import"], ["stats"],
    )  # fmt: skip
    for command in [*commands, ["export"]]:
        args = [*command, "--help"]
        result = trellis(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout


def test_cli_walkthrough(trellis, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert trellis("db", "upgrade").returncode == 0
    assert (tmp_path / "data" / "trellis.db").exists()
    short = trellis(
        "user", "create", "--email", "a@example.com", "--role", "admin", stdin="short\n"
    )
    assert short.returncode == 1 and "at least 10" in short.stderr
    made = trellis(
        "user",
        "create",
        "--email",
        "a@example.com",
        "--role",
        "admin",
        stdin="a long admin password\n",
    )
    assert made.returncode == 0, made.stderr
    token = trellis("token", "create", "--email", "a@example.com", "--name", "ci")
    assert token.stdout.strip().startswith("trl_")
    assert trellis("project", "create", "chat", "--name", "Chat data").returncode == 0
    imported = trellis("import", "chat", str(SHARED_DATA / "alpaca_5000.json"), "--json")
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert (summary["examples"], summary["needs_response"]) == (5000, 2)
    again = json.loads(
        trellis("import", "chat", str(SHARED_DATA / "alpaca_5000.json"), "--json").stdout
    )
    assert again["duplicates_skipped"] == 5000
    stats = json.loads(trellis("stats", "chat", "--json").stdout)
    assert stats["examples"]["total"]["all"] == 5000
    assert stats["examples"]["status"] == {
        "draft": 2,
        "submitted": 4998,
        "approved": 0,
        "rejected": 0,
        "needs_revision": 0,
    }


def test_cli_import_errors_and_skip_invalid(trellis, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    trellis(
        "user",
        "create",
        "--email",
        "a@example.com",
        "--role",
        "admin",
        stdin="a long admin password\n",
    )
    trellis("project", "create", "hh")
    hh = str(SHARED_DATA / "hh_rlhf_harmless_test.jsonl.gz")
    strict = trellis("import", "hh", hh)
    assert strict.returncode == 1
    for line in (87, 517, 926, 1104):
        assert f"line {line}" in strict.stderr
    assert "nothing imported" in strict.stderr
    rejects = tmp_path / "hh.rejects.jsonl"
    lenient = trellis(
        "import",
        "hh",
        hh,
        "--skip-invalid",
        "--rejects",
        str(rejects),
        "--source",
        "synthetic",
        "--generator",
        "claude",
    )
    assert lenient.returncode == 0, lenient.stderr
    assert "2,308 pairs" in lenient.stdout
    assert len(rejects.read_text().splitlines()) == 4
    stats = json.loads(trellis("stats", "hh", "--json").stdout)
    assert stats["pairs"]["source"]["synthetic"] == 2308
    missing = trellis("import", "hh", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    unknown = trellis("import", "nope", hh)
    assert unknown.returncode == 1 and "project 'nope' not found" in unknown.stderr


def _approved_alpaca_project(trellis) -> None:  # type: ignore[no-untyped-def]
    """An admin and a project `chat` holding the 5,000 Alpaca rows, approved."""
    admin = ("user", "create", "--email", "a@example.com", "--role", "admin")
    assert trellis(*admin, stdin="a long admin password\n").returncode == 0
    assert trellis("project", "create", "chat").returncode == 0
    alpaca = str(SHARED_DATA / "alpaca_5000.json")
    assert trellis("import", "chat", alpaca, "--status", "approved").returncode == 0


def test_cli_export(trellis, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _approved_alpaca_project(trellis)
    out = tmp_path / "out"
    done = trellis("export", "chat", "--format", "text", "--template", "llama3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (out / "sft_train.jsonl").read_text().splitlines()]
    assert len(rows) == 4998
    # The trainer adds the BOS itself (TRL's SFTTrainer does): not written into the text twice.
    assert rows[0]["text"].startswith("<|start_header_id|>user")
    assert json.loads((out / "manifest.json").read_text())["format"] == "text"
    kept = tmp_path / "kept"
    done = trellis("export", "chat", "--format", "text", "--template", "llama3", "--bos-in-text",
                   "--out", str(kept))  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = json.loads((kept / "sft_train.jsonl").read_text().splitlines()[0])
    assert first["text"] == "<|begin_of_text|>" + rows[0]["text"]
    bad = trellis("export", "chat", "--format", "nope", "--out", str(out))
    assert bad.returncode == 1 and "unknown format" in bad.stderr


def test_cli_export_with_a_template_file(trellis, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _approved_alpaca_project(trellis)
    config = tmp_path / "tokenizer_config.json"
    config.write_text(json.dumps({
        "chat_template": "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}",
        "bos_token": {"content": "<s>"}, "eos_token": "</s>",
    }))  # fmt: skip
    out = tmp_path / "out"
    done = trellis(
        "export", "chat", "--format", "text", "--template-file", str(config), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    first = json.loads((out / "sft_train.jsonl").read_text().splitlines()[0])
    assert first["text"].startswith("<user>")
    broken = tmp_path / "broken.jinja"
    broken.write_text("{% for m in messages %}")
    bad = trellis(
        "export", "chat", "--format", "text", "--template-file", str(broken), "--out", str(out)
    )
    assert bad.returncode == 1 and "broken.jinja" in bad.stderr
