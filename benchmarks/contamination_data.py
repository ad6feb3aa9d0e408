"""Build the labelled data for the contamination-checker accuracy benchmark.

    .venv/bin/python -m benchmarks.contamination_data OUT_DIR [--seed N]

Writes into OUT_DIR (deterministic for a given seed; everything random goes through one
`random.Random(seed)`):

- `eval_humaneval.jsonl`: the HumanEval problems whose index % 4 != 0, all fields kept.
- `eval_mmlu.csv`: the MMLU sociology test rows whose index % 4 != 0, headerless, same six
  columns (question, A, B, C, D, answer letter).
- `train.jsonl`: Alpaca-format rows ({"instruction", "input", "output"}), shuffled:
  - clean: the 5,000 alpaca rows, unchanged;
  - hard_negative: every held-out HumanEval problem (index % 4 == 0) and MMLU question, written
    the way the contaminated rows are, so a checker must tell one eval item from another;
  - verbatim / edited / embedded: samples of eval items copied, lightly edited, or buried in a
    longer instruction built from unrelated alpaca rows;
  - paraphrase: every MMLU eval item with a non-empty GPT-4 rephrasing.
- `labels.json`: `rows[i]` describes train row i: its category and source and, for injected
  rows, the eval item it came from (`eval_file` name, `eval_index` in that file).

MMLU questions are short (some are two words, "Socialization is:"); a question alone is only
used when it has at least MIN_WORDS_ALONE words (verbatim) or MIN_WORDS_ALONE_EDITED words
(edited, embedded), otherwise the four choices come with it.

HumanEval/56 and HumanEval/61 are the same task with "<>" rather than "()" brackets: their words
are identical. 56 is held out, so its hard-negative row carries `twin_of` (eval item 61); a word
based checker cannot avoid flagging it, and the scorer says so.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"

HUMANEVAL_EVAL = "eval_humaneval.jsonl"
MMLU_EVAL = "eval_mmlu.csv"
TRAIN = "train.jsonl"
LABELS = "labels.json"

INJECTED = ("verbatim", "edited", "embedded", "paraphrase")
CATEGORIES = ("clean", "hard_negative", *INJECTED)
HOLD_OUT_EVERY = 4  # index % 4 == 0 is held out of the eval files

# Eval items sampled per category; a source's samples are taken in turn from one shuffled order
# of its eval items, so they only overlap once the order is used up (HumanEval has 123 eval
# items, MMLU 150).
SAMPLE_SIZES = {
    "humaneval": {"verbatim": 60, "edited": 40, "embedded": 40},
    "mmlu": {"verbatim": 80, "edited": 50, "embedded": 50},
}
MIN_WORDS_ALONE = 5
MIN_WORDS_ALONE_EDITED = 12
KNOWN_TWINS = {56: 61}  # held-out HumanEval index -> eval HumanEval index with the same words

LETTERS = "ABCD"
FILLERS = (
    "please", "basically", "also", "just", "actually", "really", "simply", "kindly", "now",
    "here", "well",
)  # fmt: skip
COMPLETE_INSTRUCTIONS = (
    "Complete the following Python function.",
    "Implement the function below.",
    "Write the body of this Python function.",
    "Finish this Python function so that it passes its doctests.",
)

Row = dict[str, str]
Label = dict[str, Any]


@dataclass
class BenchmarkFiles:
    out_dir: Path
    train: Path
    eval_humaneval: Path
    eval_mmlu: Path
    labels_file: Path
    labels: list[Label]  # labels[i] describes train row i
    eval_orig_index: dict[str, list[int]]  # eval file name -> original row index per eval row

    @property
    def eval_paths(self) -> list[Path]:
        return [self.eval_humaneval, self.eval_mmlu]

    def counts(self) -> dict[str, int]:
        found = Counter(label["category"] for label in self.labels)
        return {category: found.get(category, 0) for category in CATEGORIES}


# --- source data -----------------------------------------------------------------------------


def load_alpaca(data_dir: Path = DATA_DIR) -> list[Row]:
    rows = json.loads((data_dir / "alpaca_5000.json").read_text(encoding="utf-8"))
    return [{k: str(row.get(k) or "") for k in ("instruction", "input", "output")} for row in rows]


def load_humaneval(data_dir: Path = DATA_DIR) -> list[dict[str, Any]]:
    with gzip.open(data_dir / "humaneval.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_mmlu(data_dir: Path = DATA_DIR) -> list[list[str]]:
    with (data_dir / "mmlu_sociology_test.csv").open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.reader(fh) if row]


def load_rephrased(data_dir: Path = DATA_DIR) -> list[str]:
    path = data_dir / "mmlu_sociology_test_rephrased.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [str(json.loads(line).get("text") or "") for line in fh if line.strip()]


# --- text helpers ----------------------------------------------------------------------------


def choices_block(row: list[str]) -> str:
    return "\n".join(f"{letter}. {row[1 + i]}" for i, letter in enumerate(LETTERS))


def answer_letter(row: list[str]) -> str:
    return row[5].strip().upper()


def answer_text(row: list[str]) -> str:
    return row[1 + LETTERS.index(answer_letter(row))]


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _stochastic_round(x: float, rng: random.Random) -> int:
    whole = int(x)
    return whole + (1 if rng.random() < x - whole else 0)


def perturb_lines(lines: list[list[str]], rng: random.Random) -> list[list[str]]:
    """Light edits of a text given as lines of words, counted over the whole text: drop ~5-10%
    of the words, change the case of ~5-15%, add or remove punctuation once or twice, insert one
    to three filler words (into the longer lines)."""
    lines = [list(words) for words in lines]

    def positions() -> list[tuple[int, int]]:
        return [(li, wi) for li, words in enumerate(lines) for wi in range(len(words))]

    spots = positions()
    if len(spots) >= 3:
        n_drop = min(len(spots) - 2, _stochastic_round(len(spots) * rng.uniform(0.05, 0.1), rng))
        for li, wi in sorted(rng.sample(spots, n_drop), reverse=True):
            del lines[li][wi]
    spots = positions()
    if spots:
        n_case = max(1, _stochastic_round(len(spots) * rng.uniform(0.05, 0.15), rng))
        for li, wi in rng.sample(spots, min(n_case, len(spots))):
            change = rng.choice((str.upper, str.lower, str.capitalize, str.title))
            lines[li][wi] = change(lines[li][wi])
        for li, wi in rng.sample(spots, min(rng.randint(1, 2), len(spots))):
            word = lines[li][wi]
            stripped = word.rstrip(".,;:!?")
            lines[li][wi] = (
                stripped if stripped and stripped != word else word + rng.choice(",.!;:")
            )
    weights = [len(words) ** 2 + 0.01 for words in lines]
    for _ in range(rng.randint(1, 3)):
        li = rng.choices(range(len(lines)), weights=weights)[0]
        lines[li].insert(rng.randint(0, len(lines[li])), rng.choice(FILLERS))
    return lines


def edit_prose(text: str, rng: random.Random) -> str:
    """Light edits of a prose text (MMLU question, maybe with its choices), whitespace too."""
    edited = perturb_lines([line.split() for line in text.split("\n")], rng)
    style = rng.choice(("keep", "collapse", "expand"))
    if style == "collapse":
        return " ".join(" ".join(words) for words in edited)
    if style == "expand":
        return "\n\n".join(
            "".join(w + (" " if rng.random() < 0.8 else "  ") for w in words).rstrip()
            for words in edited
        )
    return "\n".join(" ".join(words) for words in edited)


_DOCSTRING = re.compile(r'("""|\'\'\')(.*?)\1', re.DOTALL)
_PROSE_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[.,;:!?]?")


def _is_prose(line: str) -> bool:
    tokens = line.split()
    if len(tokens) < 3 or line.lstrip().startswith(">>>"):
        return False
    return sum(bool(_PROSE_WORD.fullmatch(t)) for t in tokens) >= 0.6 * len(tokens)


def edit_code_prompt(prompt: str, rng: random.Random) -> str:
    """Light edits of a HumanEval prompt: the docstring's prose lines, and some whitespace."""
    spans = [(m.start(2), m.end(2)) for m in _DOCSTRING.finditer(prompt)]
    pieces: list[list[str]] = []  # per docstring, its lines
    for start, end in spans:
        pieces.append(prompt[start:end].split("\n"))
    prose = [(d, i) for d, lines in enumerate(pieces) for i, line in enumerate(lines)]
    prose = [(d, i) for d, i in prose if _is_prose(pieces[d][i])]
    if not prose:  # docstring of examples only: edit its longest line anyway
        prose = [
            max(
                ((d, i) for d, lines in enumerate(pieces) for i in range(len(lines))),
                key=lambda p: len(pieces[p[0]][p[1]]),
            )
        ]
    edited = perturb_lines([pieces[d][i].split() for d, i in prose], rng)
    for (d, i), words in zip(prose, edited, strict=True):
        line = pieces[d][i]
        pieces[d][i] = line[: len(line) - len(line.lstrip())] + " ".join(words)
    out, last = [], 0
    for (start, end), lines in zip(spans, pieces, strict=True):
        out += [prompt[last:start], "\n".join(lines)]
        last = end
    out.append(prompt[last:])
    code = "".join(out)
    if rng.random() < 0.3:  # re-indent with two spaces
        code = re.sub(r"(?m)^((?:    )+)", lambda m: "  " * (len(m.group(1)) // 4), code)
    if rng.random() < 0.5:  # drop blank lines
        code = "\n".join(line for line in code.split("\n") if line.strip()) + "\n"
    if rng.random() < 0.3:
        code = code.strip("\n")
    return code


# --- the builder -----------------------------------------------------------------------------


def _take(order: list[int], sizes: dict[str, int]) -> dict[str, list[int]]:
    """Consecutive slices of `order`, wrapping around once it is used up."""
    out, pos = {}, 0
    for category, n in sizes.items():
        out[category] = [order[(pos + k) % len(order)] for k in range(n)]
        pos += n
    return out


def _other_row(alpaca: list[Row], rng: random.Random) -> Row:
    while True:
        row = alpaca[rng.randrange(len(alpaca))]
        if len(row["instruction"].split()) >= 5 and row["output"].strip():
            return row


def _embed(text: str, rng: random.Random, alpaca: list[Row]) -> tuple[Row, str]:
    a, b = _other_row(alpaca, rng), _other_row(alpaca, rng)
    templates = {
        "both_sides": f"{a['instruction']}\n\n{text}\n\n{b['instruction']}",
        "summarize_after": (
            "Summarize the following passage in one sentence, then do the task below.\n\n"
            f"{text}\n\nTask: {a['instruction']}"
        ),
        "before": (
            f"{a['instruction']} Also keep the following in mind when you answer:\n{text}\n"
            "Then list three keywords."
        ),
        "quoted_after": f'Read this first.\n"{text}"\nNow, {lower_first(a["instruction"])}',
    }
    variant = rng.choice(sorted(templates))
    return {"instruction": templates[variant], "input": a["input"], "output": a["output"]}, variant


def _humaneval_row(
    kind: str, item: dict[str, Any], rng: random.Random, alpaca: list[Row]
) -> tuple[Row, str]:
    prompt, solution = item["prompt"], item["canonical_solution"]
    if kind == "hard_negative":
        if rng.random() < 0.5:
            return {"instruction": prompt, "input": "", "output": solution}, "prompt_instruction"
        instruction = rng.choice(COMPLETE_INSTRUCTIONS)
        return {"instruction": instruction, "input": prompt, "output": solution}, "prompt_input"
    if kind == "verbatim":
        variant = rng.choice(("solution", "full_function", "fenced_solution"))
        output = {
            "solution": solution,
            "full_function": f"```python\n{prompt.strip()}\n{solution.rstrip()}\n```",
            "fenced_solution": f"Here is the implementation:\n\n```python\n{solution}```",
        }[variant]
        return {"instruction": prompt, "input": "", "output": output}, variant
    if kind == "edited":
        edited = edit_code_prompt(prompt, rng)
        if rng.random() < 0.7:
            return {"instruction": edited, "input": "", "output": solution}, "instruction"
        instruction = rng.choice(COMPLETE_INSTRUCTIONS)
        return {"instruction": instruction, "input": edited, "output": solution}, "input"
    if kind == "embedded":
        return _embed(prompt, rng, alpaca)
    raise ValueError(kind)


def _mmlu_row(kind: str, row: list[str], rng: random.Random, alpaca: list[Row]) -> tuple[Row, str]:
    question, words = row[0], len(row[0].split())
    letter, answer = answer_letter(row), answer_text(row)
    with_choices = f"{question}\n{choices_block(row)}"
    if kind == "hard_negative":
        if words >= MIN_WORDS_ALONE and rng.random() < 0.5:
            return {"instruction": question, "input": "", "output": answer}, "question"
        return {"instruction": with_choices, "input": "", "output": answer}, "question_choices"
    if kind == "verbatim":
        if words >= MIN_WORDS_ALONE and rng.random() < 0.5:
            output = rng.choice((answer, f"The answer is: {answer}"))
            return {"instruction": question, "input": "", "output": output}, "question"
        output = rng.choice((answer, f"The answer is {letter}. {answer}", letter))
        return {"instruction": with_choices, "input": "", "output": output}, "question_choices"
    alone = words >= MIN_WORDS_ALONE_EDITED and rng.random() < 0.3
    text, variant = (question, "question") if alone else (with_choices, "question_choices")
    if kind == "edited":
        output = answer if alone else rng.choice((answer, f"Answer: {letter}"))
        return {"instruction": edit_prose(text, rng), "input": "", "output": output}, variant
    if kind == "embedded":
        built, template = _embed(text, rng, alpaca)
        return built, f"{variant}/{template}"
    raise ValueError(kind)


def build(out_dir: Path, seed: int = 0, data_dir: Path = DATA_DIR) -> BenchmarkFiles:
    rng = random.Random(seed)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    alpaca = load_alpaca(data_dir)
    humaneval = load_humaneval(data_dir)
    mmlu = load_mmlu(data_dir)
    rephrased = load_rephrased(data_dir)
    if len(rephrased) != len(mmlu):
        raise ValueError(f"{len(rephrased)} rephrasings for {len(mmlu)} MMLU rows")

    he_orig = [i for i in range(len(humaneval)) if i % HOLD_OUT_EVERY]
    mmlu_orig = [i for i in range(len(mmlu)) if i % HOLD_OUT_EVERY]
    he_eval_index = {orig: j for j, orig in enumerate(he_orig)}

    eval_humaneval = out_dir / HUMANEVAL_EVAL
    with eval_humaneval.open("w", encoding="utf-8") as fh:
        for orig in he_orig:
            fh.write(json.dumps(humaneval[orig], ensure_ascii=False) + "\n")
    eval_mmlu = out_dir / MMLU_EVAL
    with eval_mmlu.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for orig in mmlu_orig:
            writer.writerow(mmlu[orig])

    rows: list[tuple[Row, Label]] = []
    for i, row in enumerate(alpaca):
        rows.append((row, {"category": "clean", "source": "alpaca", "orig_index": i}))

    for orig in range(0, len(humaneval), HOLD_OUT_EVERY):
        built, variant = _humaneval_row("hard_negative", humaneval[orig], rng, alpaca)
        label: Label = {"category": "hard_negative", "source": "humaneval", "orig_index": orig}
        label["variant"] = variant
        if orig in KNOWN_TWINS:
            twin = he_eval_index[KNOWN_TWINS[orig]]
            label["twin_of"] = {"eval_file": HUMANEVAL_EVAL, "eval_index": twin}
        rows.append((built, label))
    for orig in range(0, len(mmlu), HOLD_OUT_EVERY):
        built, variant = _mmlu_row("hard_negative", mmlu[orig], rng, alpaca)
        label = {"category": "hard_negative", "source": "mmlu", "orig_index": orig}
        rows.append((built, {**label, "variant": variant}))

    def make_humaneval(kind: str, orig: int) -> tuple[Row, str]:
        return _humaneval_row(kind, humaneval[orig], rng, alpaca)

    def make_mmlu(kind: str, orig: int) -> tuple[Row, str]:
        return _mmlu_row(kind, mmlu[orig], rng, alpaca)

    sources = (
        ("humaneval", HUMANEVAL_EVAL, he_orig, make_humaneval),
        ("mmlu", MMLU_EVAL, mmlu_orig, make_mmlu),
    )
    for source, eval_file, orig_list, make in sources:
        order = list(range(len(orig_list)))
        rng.shuffle(order)
        for category, picked in _take(order, SAMPLE_SIZES[source]).items():
            for j in picked:
                built, variant = make(category, orig_list[j])
                label = {"category": category, "source": source, "eval_file": eval_file}
                label.update(eval_index=j, orig_index=orig_list[j], variant=variant)
                rows.append((built, label))

    for j, orig in enumerate(mmlu_orig):
        text = rephrased[orig].strip()
        if not text:
            continue
        if rng.random() < 0.6:
            output, variant = answer_text(mmlu[orig]), "answer"
        else:
            output, variant = _other_row(alpaca, rng)["output"], "unrelated_output"
        label = {"category": "paraphrase", "source": "mmlu", "eval_file": MMLU_EVAL}
        label.update(eval_index=j, orig_index=orig, variant=variant)
        rows.append(({"instruction": text, "input": "", "output": output}, label))

    rng.shuffle(rows)
    train = out_dir / TRAIN
    with train.open("w", encoding="utf-8") as fh:
        for row, _ in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    labels = [label for _, label in rows]
    eval_orig_index = {HUMANEVAL_EVAL: he_orig, MMLU_EVAL: mmlu_orig}
    files = BenchmarkFiles(
        out_dir=out_dir,
        train=train,
        eval_humaneval=eval_humaneval,
        eval_mmlu=eval_mmlu,
        labels_file=out_dir / LABELS,
        labels=labels,
        eval_orig_index=eval_orig_index,
    )
    payload = {
        "seed": seed,
        "counts": files.counts(),
        "eval_files": {
            name: {"rows": len(orig), "orig_index": orig} for name, orig in eval_orig_index.items()
        },
        "rows": labels,
    }
    files.labels_file.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    files = build(args.out_dir, seed=args.seed)
    print(f"wrote {files.out_dir}: {len(files.labels):,} train rows")
    for category, n in files.counts().items():
        print(f"  {category:<14} {n:>6,}")


if __name__ == "__main__":
    main()
