"""Contamination check on files, with no server or database (``trellis check contamination``).

TRAIN is any file the importer reads; each record's position in it (0-based, bad rows counted)
is its ``train_index``.  Each EVAL file is read with :func:`app.evalsets.reader.read_eval_file`.
The report holds one JSON object per flag; the summary is returned for stdout.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from app.contamination.detector import EvalIndex
from app.contamination.records import EvalText, Flag, TrainText
from app.embeddings.types import TextEncoder
from app.evalsets.reader import EvalRecord, read_eval_file
from app.formats.records import ExampleRecord
from app.formats.training_files import CheckInputError, parsed_rows

# CheckInputError stays importable here for the CLI.
__all__ = ["CheckInputError", "TrainRows", "check_files", "read_train"]
from app.text.itemtext import message_text, prompt_text


@dataclass(slots=True)
class TrainRows:
    texts: list[TrainText]
    indices: list[int]
    """``texts[k]`` is record ``indices[k]`` of the file."""
    skipped: list[str]


def read_train(path: Path, *, skip_bad_rows: bool = False) -> TrainRows:
    rows = TrainRows([], [], [])
    for index, parsed in parsed_rows(path, rows.skipped, skip_bad_rows=skip_bad_rows):
        record = parsed.record
        if isinstance(record, ExampleRecord):
            text = message_text(record.messages)
            prompt = prompt_text(record.messages)
        else:
            assert record is not None
            text = message_text([*record.prompt, *record.chosen, *record.rejected])
            prompt = prompt_text(record.prompt)
        rows.texts.append(TrainText(text, prompt))
        rows.indices.append(index)
    return rows


def check_files(
    train_path: Path,
    eval_paths: Sequence[Path],
    out_path: Path,
    encoder: TextEncoder | None,
    *,
    fields: Sequence[str] | None = None,
    skip_bad_rows: bool = False,
) -> dict[str, Any]:
    started = time.perf_counter()
    eval_sets: list[list[EvalRecord]] = []
    for path in eval_paths:
        try:
            eval_sets.append(read_eval_file(path, fields))
        except ValueError as exc:
            raise CheckInputError(str(exc)) from None
    train = read_train(train_path, skip_bad_rows=skip_bad_rows)
    items = [
        EvalText(s, rec.index, rec.fields) for s, records in enumerate(eval_sets) for rec in records
    ]
    index = EvalIndex(items, encoder)
    embeddings = encoder.encode([t.prompt for t in train.texts]) if encoder is not None else None
    flags = index.check(train.texts, embeddings)
    flags.sort(key=lambda f: (train.indices[f.train], f.item))
    with out_path.open("wb") as out:
        for flag in flags:
            out.write(orjson.dumps(_report_row(flag, index, train, eval_paths)) + b"\n")
    methods = Counter(f.method for f in flags)
    per_eval = Counter(str(eval_paths[index.items[f.item].set_index]) for f in flags)
    return {
        "train_file": str(train_path),
        "train_rows": len(train.texts),
        "skipped_rows": len(train.skipped),
        "eval_files": {str(p): len(s) for p, s in zip(eval_paths, eval_sets, strict=True)},
        "flags": len(flags),
        "flagged_train_rows": len({f.train for f in flags}),
        "flags_by_method": dict(sorted(methods.items())),
        "flags_by_eval_file": dict(sorted(per_eval.items())),
        "embeddings": encoder.model_id if encoder is not None else None,
        "report": str(out_path),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _report_row(
    flag: Flag, index: EvalIndex, train: TrainRows, eval_paths: Sequence[Path]
) -> dict[str, Any]:
    item = index.items[flag.item]
    segment = index.segments[flag.segment] if flag.segment >= 0 else None
    return {
        "train_index": train.indices[flag.train],
        "eval_file": str(eval_paths[item.set_index]),
        "eval_index": item.item_index,
        "method": flag.method,
        "jaccard": _round(flag.jaccard),
        "containment": _round(flag.containment),
        "cosine": _round(flag.cosine),
        "eval_field": segment.field if segment is not None else None,
        "matched_words": sum(b.size for b in flag.blocks),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
