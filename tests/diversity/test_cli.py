"""``trellis check diversity`` on files: report shape, train indices, subset, changes, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import app
from tests.factories import SHARED_DATA

ITEM_KEYS = {"train_index", "nn", "nn_similarity", "novelty", "cluster", "cluster_similarity",
             "duplicate_group", "chars", "words", "turns", "x", "y"}  # fmt: skip


def _write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", "diversity", *args])
    return result.exit_code, result.output


def _summary(output: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(output[output.index("{") :])
    return summary


@pytest.fixture(scope="module")
def train(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("diversity")
    alpaca = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())[:150]
    rows: list[object] = [dict(r, rating=i % 5) for i, r in enumerate(alpaca)]
    rows.insert(20, dict(alpaca[7]))  # an exact copy of record 7 at record 20
    rows.insert(40, {"instruction": 3})  # bad: not text
    return {"tmp": tmp, "train": _write_jsonl(tmp / "train.jsonl", rows)}


def test_report_lists_every_row_by_train_index(train: dict[str, Any]) -> None:
    out = train["tmp"] / "report.json"
    code, output = _run("--train", str(train["train"]), "--out", str(out), "--skip-bad-rows")
    assert code == 0, output
    summary = _summary(output)
    assert summary["train_rows"] == 151 and summary["skipped_rows"] == 1
    assert {"vendi_score", "n_clusters", "cluster_sizes", "near_duplicate_share"} <= set(summary)
    report = json.loads(out.read_text())
    assert set(report) >= {"dataset", "items", "duplicate_groups", "clusters", "diverse_subset"}
    items = report["items"]
    assert len(items) == 151 and all(set(i) == ITEM_KEYS for i in items)
    indices = [i["train_index"] for i in items]
    assert 40 not in indices and indices[:3] == [0, 1, 2] and indices[-1] == 151
    groups = report["duplicate_groups"]
    assert any(g["members"] == [7, 20] and "exact" in g["kinds"] for g in groups)
    by_index = {i["train_index"]: i for i in items}
    assert by_index[20]["nn"] == 7 and by_index[20]["duplicate_group"] is not None
    assert sum(c["size"] for c in report["clusters"]) == 151
    subset = report["diverse_subset"]
    assert subset["tau"] == 0.9 and subset["size"] == len(subset["kept"]) < 151
    # Rated rows first: the first kept row has the top rating (4).
    assert subset["kept"][0] == 4
    assert not {7, 20} <= set(subset["kept"])


def test_target_tau_and_changes_since_the_last_run(train: dict[str, Any]) -> None:
    out = train["tmp"] / "again.json"
    args = ("--train", str(train["train"]), "--out", str(out), "--skip-bad-rows")
    code, output = _run(*args, "--target", "25", "--tau", "0.6")
    assert code == 0, output
    report = json.loads(out.read_text())
    assert report["diverse_subset"]["size"] == 25 and report["diverse_subset"]["tau"] == 0.6
    assert "changes" not in report["dataset"]
    code, output = _run(*args)  # --out already holds a report: compared with it
    assert code == 0, output
    changes = _summary(output)["changes"]
    assert changes["vendi_score"]["delta"] == pytest.approx(0, abs=0.01)
    assert changes["n_items"] == {"previous": 151, "current": 151, "delta": 0}


def test_bad_input_exits_2(train: dict[str, Any]) -> None:
    out = train["tmp"] / "bad.json"
    code, output = _run("--train", str(train["train"]), "--out", str(out))
    assert code == 2
    assert "line 41" in output and "--skip-bad-rows" in output
    code, output = _run("--train", str(train["tmp"] / "missing.jsonl"), "--out", str(out))
    assert code == 2
    assert not out.exists()
    code, output = _run("--train", str(train["train"]), "--out", str(out), "--tau", "0")
    assert code == 2 and "--tau" in output
    previous = _write_jsonl(train["tmp"] / "notreport.json", [[1, 2]])
    code, output = _run("--train", str(train["train"]), "--out", str(out), "--skip-bad-rows",
                        "--previous", str(previous))  # fmt: skip
    assert code == 2 and "not a diversity report" in output
