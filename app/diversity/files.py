"""Diversity check on a file, with no server or database (``trellis check diversity``).

TRAIN is any file the importer reads; each record's position in it (0-based, bad rows counted)
is its ``train_index``.  An example is embedded as all its turns' text; a preference pair as its
prompt and chosen answer (what training on it teaches).  The report is one JSON object:

- ``dataset``: the dataset metrics (and ``changes`` against a previous report, when given);
- ``items``: one object per row (``train_index``, nearest neighbour as a train index, scores);
- ``duplicate_groups``: ``id``, ``members`` (train indices), ``kinds``, ``max_similarity``;
- ``clusters``: ``id``, ``size``, ``representatives`` (train indices nearest the centroid);
- ``diverse_subset``: ``tau``, ``target``, ``order`` and ``kept`` (train indices, chosen order).

The subset orders rows by a numeric ``rating`` field of the raw record when there is one, then
by the field named with ``score_field`` (e.g. a DEITA score), then by position.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from app.diversity.scores import Config, compare, dataset_metrics, item_scores, score
from app.diversity.subset import TAU, quality_order
from app.embeddings.types import TextEncoder
from app.formats.records import ExampleRecord
from app.formats.training_files import CheckInputError, parsed_rows
from app.text.itemtext import message_text

__all__ = ["CheckInputError", "TrainItems", "check_diversity", "read_items"]


@dataclass(slots=True)
class TrainItems:
    texts: list[str] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    """``texts[k]`` is record ``indices[k]`` of the file."""
    ratings: list[float | None] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_items(
    path: Path, *, skip_bad_rows: bool = False, score_field: str | None = None
) -> TrainItems:
    items = TrainItems()
    for index, parsed in parsed_rows(path, items.skipped, skip_bad_rows=skip_bad_rows):
        record = parsed.record
        if isinstance(record, ExampleRecord):
            messages = record.messages
        else:
            assert record is not None
            messages = [*record.prompt, *record.chosen]
        items.texts.append(message_text(messages))
        items.turns.append(len(messages))
        items.indices.append(index)
        raw = parsed.raw or {}
        items.ratings.append(_number(raw.get("rating")))
        items.scores.append(_number(raw.get(score_field)) if score_field else None)
    return items


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_diversity(
    train_path: Path,
    out_path: Path,
    encoder: TextEncoder,
    *,
    tau: float = TAU,
    target: int | None = None,
    skip_bad_rows: bool = False,
    score_field: str | None = None,
    previous: Path | None = None,
) -> dict[str, Any]:
    """Score ``train_path``, write the report to ``out_path`` and return the summary.

    ``previous``: an earlier report to compare with; by default ``out_path`` itself when it
    already holds one.
    """
    started = time.perf_counter()
    if not 0.0 < tau <= 1.0:
        raise CheckInputError(f"--tau {tau}: use a cosine in (0, 1]")
    if target is not None and target < 1:
        raise CheckInputError(f"--target {target}: use a positive number of rows")
    earlier = _previous_dataset(previous if previous is not None else out_path, previous is None)
    items = read_items(train_path, skip_bad_rows=skip_bad_rows, score_field=score_field)
    if not items.texts:
        raise CheckInputError(f"{train_path}: no rows to check")
    embed_start = time.perf_counter()
    vectors = encoder.encode(items.texts)
    embed_s = time.perf_counter() - embed_start
    state = score(vectors, items.texts, items.turns, Config(tau=tau))
    order = quality_order(state.n, items.ratings, items.scores)
    kept = state.subset(order, target=target, tau=tau)
    idx = items.indices
    dataset = dataset_metrics(state)
    if earlier is not None:
        dataset["changes"] = compare(earlier, dataset)
    report_items = []
    for row, scores in enumerate(item_scores(state)):
        nn = scores.pop("nn")
        report_items.append({"train_index": idx[row], "nn": None if nn is None else idx[nn],
                             **scores})  # fmt: skip
    report = {
        "train_file": str(train_path),
        "embeddings": encoder.model_id,
        "dataset": dataset,
        "items": report_items,
        "duplicate_groups": [
            {
                "id": g.id,
                "members": [idx[m] for m in g.members],
                "kinds": g.kinds,
                "max_similarity": g.max_similarity,
            }
            for g in state.groups
        ],
        "clusters": [
            {
                "id": c,
                "size": int(size),
                "representatives": [idx[r] for r in state.clusters.representatives(c)],
            }
            for c, size in enumerate(state.clusters.sizes.tolist())
        ],
        "diverse_subset": {
            "tau": tau,
            "target": target,
            "order": "rating, then " + (score_field or "position") + ", then position",
            "size": len(kept),
            "kept": [idx[r] for r in kept.tolist()],
        },
    }
    out_path.write_bytes(orjson.dumps(report))
    return {
        "train_file": str(train_path),
        "train_rows": len(items.texts),
        "skipped_rows": len(items.skipped),
        "embeddings": encoder.model_id,
        **dataset,
        "diverse_subset": {"tau": tau, "target": target, "size": len(kept)},
        "report": str(out_path),
        "seconds": {
            "embedding": round(embed_s, 2),
            **{k: round(v, 2) for k, v in state.timings.items()},
            "total": round(time.perf_counter() - started, 2),
        },
    }


def _previous_dataset(path: Path, optional: bool) -> dict[str, Any] | None:
    """The ``dataset`` of an earlier report; a missing or unreadable default is no error."""
    try:
        loaded = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        if optional:
            return None
        raise CheckInputError(f"{path}: not a diversity report ({exc})") from None
    dataset = loaded.get("dataset") if isinstance(loaded, dict) else None
    if not isinstance(dataset, dict):
        if optional:
            return None
        raise CheckInputError(f"{path}: not a diversity report (no dataset)")
    return dataset
