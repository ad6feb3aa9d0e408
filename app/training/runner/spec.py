"""The run directory's ``config.json``, read into a plain dataclass, and its data files verified.

This module is the runner's half of the run-directory contract (``docs/training.md``). It uses
the standard library only: the runner must start on a GPU host that has torch, transformers,
TRL and PEFT but nothing of Trellis' web stack (no pydantic, no SQLAlchemy).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

METHODS = ("sft", "dpo")
PRESETS = ("qlora", "lora", "full")
SPLITS = ("train", "eval")


class RunError(Exception):
    """A failure the runner reports as it is: a clear message, no stack trace."""


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the run directory
    sha256: str
    split: str = "train"  # "train" or "eval"


@dataclass(frozen=True)
class LoraSpec:
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class RunSpec:
    """What ``config.json`` holds. Field names are the contract; see ``docs/training.md``."""

    method: str
    base_model: str
    data_files: tuple[DataFile, ...]
    preset: str = "qlora"
    lora: LoraSpec = field(default_factory=LoraSpec)
    learning_rate: float = 2e-4
    epochs: float = 3.0
    max_steps: int = -1
    sequence_len: int = 4096
    micro_batch: int = 2
    grad_accum: int = 4
    optimizer: str = "paged_adamw_8bit"
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool = True
    assistant_only_loss: bool = False
    dpo_beta: float = 0.1
    init_adapter: str | None = None
    merge: bool = False
    seed: int = 42
    eval_fraction: float = 0.0
    eval_steps: int | None = None
    logging_steps: int = 1
    num_gpus: int = 1
    zero_stage: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora"]["targets"] = list(self.lora.targets)
        data["data_files"] = [asdict(f) for f in self.data_files]
        return data


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RunError(f"config.json: {message}")


def parse_spec(raw: dict[str, Any]) -> RunSpec:
    """Build a RunSpec from the decoded ``config.json``, refusing what training cannot use."""
    _check(isinstance(raw, dict), "expected a JSON object")
    known = set(RunSpec.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    _check(not unknown, f"unknown field(s) {', '.join(unknown)}")
    for name in ("method", "base_model", "data_files"):
        _check(name in raw, f"'{name}' is required")
    data = dict(raw)
    _check(data["method"] in METHODS, f"method must be one of {', '.join(METHODS)}")
    _check(data.get("preset", "qlora") in PRESETS, f"preset must be one of {', '.join(PRESETS)}")
    files = data["data_files"]
    _check(isinstance(files, list) and bool(files), "'data_files' must list at least one file")
    parsed_files = []
    for entry in files:
        _check(
            isinstance(entry, dict) and {"path", "sha256"} <= set(entry),
            "each data file needs 'path' and 'sha256'",
        )
        split = entry.get("split", "train")
        _check(split in SPLITS, f"data file split must be one of {', '.join(SPLITS)}")
        parsed_files.append(DataFile(str(entry["path"]), str(entry["sha256"]).lower(), split))
    _check(any(f.split == "train" for f in parsed_files), "no data file has split 'train'")
    data["data_files"] = tuple(parsed_files)
    lora = dict(data.get("lora") or {})
    if "targets" in lora:
        lora["targets"] = tuple(lora["targets"])
    try:
        data["lora"] = LoraSpec(**lora)
        spec = RunSpec(**data)
    except TypeError as exc:
        raise RunError(f"config.json: {exc}") from None
    _check(spec.lora.rank > 0, "lora.rank must be positive")
    _check(spec.lora.alpha > 0, "lora.alpha must be greater than 0")
    _check(0 <= spec.lora.dropout < 1, "lora.dropout must be in [0, 1)")
    _check(bool(spec.lora.targets), "lora.targets must name at least one module")
    _check(spec.learning_rate > 0, "learning_rate must be greater than 0")
    _check(spec.epochs > 0 or spec.max_steps > 0, "epochs or max_steps must be positive")
    _check(spec.sequence_len > 0, "sequence_len must be positive")
    _check(spec.micro_batch > 0 and spec.grad_accum > 0, "micro_batch and grad_accum must be > 0")
    _check(0 <= spec.eval_fraction < 1, "eval_fraction must be in [0, 1)")
    _check(spec.zero_stage in (None, 2, 3), "zero_stage must be 2, 3 or null")
    return spec


def load_spec(run_dir: Path) -> RunSpec:
    path = run_dir / "config.json"
    if not path.is_file():
        raise RunError(f"{path} not found: a run directory holds config.json and data/")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"config.json is not valid JSON: {exc}") from None
    return parse_spec(raw)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_data(run_dir: Path, spec: RunSpec) -> dict[str, list[Path]]:
    """Check every data file against its SHA-256; return the paths by split."""
    root = run_dir.resolve()
    by_split: dict[str, list[Path]] = {"train": [], "eval": []}
    for entry in spec.data_files:
        path = (root / entry.path).resolve()
        if not path.is_relative_to(root):
            raise RunError(f"data file {entry.path} lies outside the run directory")
        if not path.is_file():
            raise RunError(f"data file {entry.path} is missing from the run directory")
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise RunError(
                f"data file {entry.path} does not match the snapshot: SHA-256 is {actual}, "
                f"config.json expects {entry.sha256}; the file changed after export"
            )
        by_split[entry.split].append(path)
    return by_split


def read_rows(path: Path, method: str) -> list[dict[str, Any]]:
    """The rows of one JSONL file, each checked for the columns the method trains on."""
    columns = ("messages",) if method == "sft" else ("prompt", "chosen", "rejected")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunError(f"{path.name} line {number}: not valid JSON ({exc})") from None
            missing = [c for c in columns if c not in row]
            if missing:
                raise RunError(
                    f"{path.name} line {number}: a {method} row needs {', '.join(columns)}; "
                    f"missing {', '.join(missing)}"
                )
            rows.append({c: row[c] for c in columns})
    if not rows:
        raise RunError(f"{path.name} holds no rows")
    return rows
