"""``trellis check contamination`` on files: report format, indices, bad input, paraphrases."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from tests.factories import SHARED_DATA

MMLU = SHARED_DATA / "mmlu_sociology_test.csv"
REPHRASED = SHARED_DATA / "mmlu_sociology_test_rephrased.jsonl"
KEYS = {"train_index", "eval_file", "eval_index", "method", "jaccard", "containment", "cosine"}


def _mmlu() -> list[list[str]]:
    with MMLU.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("check")
    mmlu = _mmlu()
    rephrased = [json.loads(line)["text"] for line in REPHRASED.open(encoding="utf-8")]
    eval_path = tmp / "eval.csv"
    with eval_path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(mmlu[:100])  # headerless, like the original
    alpaca = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())[:300]
    q = mmlu[7]  # verbatim: question + options as the instruction
    verbatim = {"instruction": q[0] + "\n" + "\n".join(q[1:5]), "input": "", "output": q[3]}
    paraphrases = [(i, {"instruction": rephrased[i], "input": "", "output": "ok"})
                   for i in range(20, 30) if rephrased[i].strip()]  # fmt: skip
    train: list[object] = [*alpaca[:50], verbatim, *alpaca[50:120]]
    expected = {50: 7}
    for i, row in paraphrases:
        expected[len(train)] = i
        train.append(row)
    train.extend(alpaca[120:])
    train_path = _write_jsonl(tmp / "train.jsonl", train)
    return {"tmp": tmp, "eval": eval_path, "train": train_path, "expected": expected}


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", "contamination", *args])
    return result.exit_code, result.output


def test_report_names_train_and_eval_indices(files: dict[str, object]) -> None:
    out = Path(str(files["tmp"])) / "report.jsonl"
    code, output = _run("--train", str(files["train"]), "--eval", str(files["eval"]),
                        "--out", str(out))  # fmt: skip
    assert code == 0, output
    summary = json.loads(output[output.index("{") :])
    assert summary["eval_files"] == {str(files["eval"]): 100}  # no row lost to a "header"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(set(r) >= KEYS for r in rows)
    assert {r["eval_file"] for r in rows} == {str(files["eval"])}
    flagged = {r["train_index"]: r["eval_index"] for r in rows}
    expected: dict[int, int] = files["expected"]  # type: ignore[assignment]
    verbatim = next(i for i, e in expected.items() if e == 7)
    assert flagged.get(verbatim) == 7
    caught = sum(flagged.get(i) == e for i, e in expected.items())
    assert caught >= len(expected) - 2, (flagged, expected)
    false = [i for i in flagged if i not in expected]
    assert false == []


def test_bad_train_row_stops_the_check_unless_skipped(files: dict[str, object]) -> None:
    tmp = Path(str(files["tmp"]))
    train = tmp / "bad.jsonl"
    lines = Path(str(files["train"])).read_text().splitlines()
    lines.insert(2, '{"instruction": 5}')
    train.write_text("\n".join(lines) + "\n")
    out = tmp / "bad-report.jsonl"
    code, output = _run("--train", str(train), "--eval", str(files["eval"]), "--out", str(out),
                        "--no-embeddings")  # fmt: skip
    assert code == 2
    assert f"{train}: line 3" in output and "--skip-bad-rows" in output
    code, output = _run("--train", str(train), "--eval", str(files["eval"]), "--out", str(out),
                        "--no-embeddings", "--skip-bad-rows")  # fmt: skip
    assert code == 0, output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # indices count the bad row: the verbatim copy moved from 50 to 51
    assert any(r["train_index"] == 51 and r["eval_index"] == 7 for r in rows)


def test_bad_eval_file_names_the_line(files: dict[str, object]) -> None:
    tmp = Path(str(files["tmp"]))
    bad = _write_jsonl(tmp / "bad-eval.jsonl", [{"question": "What is two plus two?"}])
    bad.write_text(bad.read_text() + '{"question": \n')
    code, output = _run("--train", str(files["train"]), "--eval", str(bad),
                        "--out", str(tmp / "r.jsonl"), "--no-embeddings")  # fmt: skip
    assert code == 2
    assert f"{bad}: line 2" in output


def test_unknown_field_is_an_error(files: dict[str, object]) -> None:
    tmp = Path(str(files["tmp"]))
    code, output = _run("--train", str(files["train"]), "--eval", str(files["eval"]),
                        "--field", "question", "--out", str(tmp / "r.jsonl"),
                        "--no-embeddings")  # fmt: skip
    assert code == 2
    assert "no record has the field 'question'" in output and "column_1" in output
