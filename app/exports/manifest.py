"""A snapshot's manifest (counts, gates, notes, every file's SHA-256) and the trainer configs
written beside its files. Pure of the database: it reads what the writer gathered."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app import __version__
from app.exports.files import sha256_file
from app.exports.tool_configs import axolotl_yaml, llamafactory_dataset_info
from app.exports.writer import SnapshotWriter
from app.models import ExportSnapshot, Project
from app.models.base import utcnow


def tool_configs(folder: Path, snapshot: ExportSnapshot, rows: dict[str, int]) -> list[str]:
    """Ready-to-use trainer configs pointing at the exported files."""
    params = snapshot.params
    data_files = sorted(n for n in rows if n != "items.jsonl" and n.endswith("_train.jsonl"))
    written: list[str] = []
    if snapshot.format == "axolotl" and data_files:
        pairs = data_files[0].startswith("preference")
        (folder / "axolotl.yaml").write_text(
            axolotl_yaml(
                base_model=params["base_model"],
                dataset_file=data_files[0],
                sequence_len=int(params["sequence_len"]),
                pairs=pairs,
                chat_template=params.get("template") or "chatml",
            ),
            encoding="utf-8",
        )
        written.append("axolotl.yaml")
    if snapshot.format == "llamafactory" and data_files:
        info: dict[str, Any] = {}
        for name in data_files:
            info.update(
                llamafactory_dataset_info(
                    name=name.removesuffix(".jsonl"),
                    file_name=name,
                    pairs=name.startswith("preference"),
                    formatting="sharegpt",
                )
            )
        (folder / "dataset_info.json").write_text(
            json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        written.append("dataset_info.json")
    return written


def build_manifest(
    snapshot: ExportSnapshot,
    project: Project,
    writer: SnapshotWriter,
    extra: list[str],
    folder: Path,
    gates: list[dict[str, Any]],
) -> dict[str, Any]:
    params = snapshot.params
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for (kind, split, source), n in sorted(writer.by_split_source.items()):
        counts.setdefault(kind, {}).setdefault(split, {})[source] = n
    notes = []
    if writer.text_rows is not None and writer.text_rows.folded:
        notes.append(
            f"template '{params['template']}' has no system role: the system prompt was folded "
            f"into the first user turn in {writer.text_rows.folded:,} conversations"
        )
    if writer.feedback_rows:
        notes.append(
            f"{writer.feedback_rows:,} kto rows come from rated production feedback, one per "
            "distinct response and conversation; they are not reviewed row by row (the status "
            "filter does not apply to them)"
        )
    text_rows = writer.text_rows
    if text_rows is not None and text_rows.bos_removed:
        notes.append(
            f"the text of {text_rows.bos_removed:,} rows starts without the BOS "
            f"{text_rows.template.bos_token!r}: the tokenizer adds it when the trainer tokenizes "
            "the text (TRL's SFTTrainer does); export with bos_in_text for a trainer that "
            "does not"
        )
    if writer.skipped:
        notes.append(f"{len(writer.skipped):,} items could not be written in this format")
    if writer.left_out_flagged:
        notes.append(
            f"{writer.left_out_flagged:,} items with open contamination flags were left out"
        )
    if writer.needs_response:
        notes.append(
            f"{writer.needs_response:,} examples need a response (no final assistant turn) "
            "and were left out"
        )
    names = sorted({*writer.files.rows, *extra})
    return {
        "trellis_version": __version__,
        "snapshot": snapshot.id,
        "project": project.slug,
        "created_at": utcnow().isoformat(),
        "format": snapshot.format,
        "template": params.get("template"),
        **_bos(text_rows),
        "filters": {
            k: params.get(k)
            for k in ("status", "tags", "source", "min_rating", "exclude_flagged", "selection")
        },
        "split": {
            "validation_fraction": params["validation_fraction"],
            "seed": params["seed"],
            "method": "sha256(seed + ':' + content_hash) < fraction -> validation",
        },
        "counts": counts,
        "gates": gates,
        "notes": notes,
        "skipped": writer.skipped[:1000],
        "left_out": {
            "counts": dict(sorted(writer.left_out_total.items())),
            "items": writer.left_out,
        },
        "files": {
            name: {
                "sha256": sha256_file(folder / name),
                "bytes": (folder / name).stat().st_size,
                **({"rows": writer.files.rows[name]} if name in writer.files.rows else {}),
            }
            for name in names
        },
    }


def _bos(text_rows: Any) -> dict[str, Any]:
    """Whether a text export's rows carry the template's BOS (trainers add it themselves)."""
    if text_rows is None or not text_rows.template.bos_token:
        return {}
    return {
        "bos": {
            "token": text_rows.template.bos_token,
            "in_text": text_rows.bos_in_text,
            "removed_from_rows": text_rows.bos_removed,
        }
    }


def gate_json(gate: Any) -> dict[str, Any]:
    data = asdict(gate)
    data["status"] = gate.status.value
    return data
