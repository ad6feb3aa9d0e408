"""Exports: freeze a selection of items into immutable files with a manifest. Never commits.

One streaming pass over the selected items writes every file while the quality gates are
computed; when a gate blocks, the files are discarded and the snapshot records why. Files are
written into `<id>.partial/` and renamed when complete, so a crash never leaves a half snapshot.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app import __version__
from app.contamination.service import export_view
from app.errors import Conflict, Invalid, NotFound
from app.exports import repository, template_limits
from app.exports.chat_templates import (
    ChatTemplate,
    TemplateError,
    from_source,
    get_template,
    render,
)
from app.exports.files import (
    JsonlFiles,
    item_line,
    sha256_file,
    write_datasets_tar,
    write_parquet,
)
from app.exports.gates import MAX_ITEMS, GateChecker, GateResult, GateStatus
from app.exports.rows import FORMATS, ExportRowError
from app.exports.schemas import ExportCreate
from app.exports.split import Splitter
from app.exports.template_limits import TemplateLimitError
from app.exports.tokens import TokenCounter, counter_for
from app.exports.tool_configs import axolotl_yaml, llamafactory_dataset_info
from app.jobs import service as jobs
from app.models import ExportSnapshot, ItemKind, Project, User
from app.models.base import utcnow
from app.selections import service as selections

EXPORT_JOB = "export"
TEXT_FORMAT = "text"
ALL_FORMATS = (*FORMATS, TEXT_FORMAT)
Progress = Callable[[float, str], None]


def new_snapshot(
    db: Session, project: Project, user_id: int | None, data: ExportCreate
) -> ExportSnapshot:
    """Validate the request and record a pending snapshot (the CLI then runs it in-process)."""
    if data.format not in ALL_FORMATS:
        raise Invalid(f"unknown format '{data.format}'; use one of: {', '.join(ALL_FORMATS)}")
    params = data.model_dump(mode="json")
    if data.format == TEXT_FORMAT:
        try:  # a custom template is test-rendered in a child process, never in the request
            check = template_limits.isolated if params.get("custom_template") else _call
            params["template"] = check(_template_for, params, project.chat_template).name
        except (TemplateError, TemplateLimitError) as exc:
            raise Invalid(str(exc)) from exc
    elif data.custom_template is not None:
        raise Invalid("a custom chat template only applies to the text format")
    if data.selection_id is not None:
        selection = selections.get(db, project, data.selection_id)
        params["selection"] = {"id": selection.id, "name": selection.name,
                               "items": selection.item_count}  # fmt: skip
    snapshot = ExportSnapshot(
        project_id=project.id, format=data.format, params=params, created_by_id=user_id
    )
    repository.add(db, snapshot)
    return snapshot


def create(db: Session, project: Project, user: User, data: ExportCreate) -> ExportSnapshot:
    """Record the snapshot and queue the job that writes it (sent after the commit)."""
    snapshot = new_snapshot(db, project, user.id, data)
    job = jobs.create(
        db,
        kind=EXPORT_JOB,
        params={"snapshot_id": snapshot.id},
        project_id=project.id,
        user_id=user.id,
    )
    snapshot.job_id = job.id
    return snapshot


def get(db: Session, project: Project, snapshot_id: int) -> ExportSnapshot:
    snapshot = repository.get(db, snapshot_id)
    if snapshot is None or snapshot.project_id != project.id:
        raise NotFound(f"export {snapshot_id} not found in project '{project.slug}'")
    return snapshot


def list_for(db: Session, project: Project) -> list[ExportSnapshot]:
    return repository.for_project(db, project.id)


def file_path(snapshot: ExportSnapshot, export_root: Path, name: str) -> Path:
    """A file of a ready snapshot, by the name its manifest lists (nothing else is served)."""
    if snapshot.state != "ready" or not snapshot.manifest or not snapshot.directory:
        raise Conflict(f"export {snapshot.id} is {snapshot.state}, it has no files to download")
    if name != "manifest.json" and name not in snapshot.manifest.get("files", {}):
        raise NotFound(f"export {snapshot.id} has no file '{name}'")
    path = export_root / snapshot.directory / name
    if not path.is_file():
        raise NotFound(f"the file '{name}' of export {snapshot.id} is missing on disk")
    return path


def preview(
    snapshot: ExportSnapshot, export_root: Path, rows: int = 5
) -> dict[str, list[tuple[str, str | None]]]:
    """The first lines of each JSONL file exactly as written, with the rendered text of `text`
    rows decoded for reading."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    if snapshot.state != "ready" or not snapshot.manifest or not snapshot.directory:
        return out
    for name in snapshot.manifest.get("files", {}):
        if name.endswith(".jsonl") and name != "items.jsonl":
            with (export_root / snapshot.directory / name).open(encoding="utf-8") as fh:
                lines = [line.rstrip("\n") for _, line in zip(range(rows), fh, strict=False)]
            out[name] = [(line, _text_of(line)) for line in lines]
    return out


def _text_of(line: str) -> str | None:
    value = json.loads(line).get("text")
    return value if isinstance(value, str) else None


def _call(fn: Callable[..., ChatTemplate], *args: Any) -> ChatTemplate:
    return fn(*args)


def _template_for(params: dict[str, Any], project_default: str) -> ChatTemplate:
    """The template a text export renders with: its own custom one, or a built-in by name."""
    custom = params.get("custom_template")
    if custom:
        return from_source(
            f"custom:{custom['name']}", custom["source"], custom["bos_token"], custom["eos_token"]
        )
    return get_template(params.get("template") or project_default)


class _TextRows:
    """`text` rows: each conversation rendered through a chat template."""

    def __init__(self, template: ChatTemplate) -> None:
        self.template = template
        self.folded = 0

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        try:
            rendered = render(self.template, item["messages"], tools=item.get("tools"))
        except TemplateError as exc:
            raise ExportRowError(item["id"], str(exc)) from exc
        self.folded += rendered.folded_system
        return {"text": rendered.text}


def run(
    db: Session,
    snapshot_id: int,
    export_root: Path,
    *,
    progress: Progress | None = None,
    tokenizer_path: Path | None = None,
) -> ExportSnapshot:
    """Write the snapshot's files (idempotent: a ready or blocked snapshot is left as it is)."""
    snapshot = repository.get(db, snapshot_id)
    if snapshot is None:
        raise NotFound(f"export {snapshot_id} not found")
    if snapshot.state in ("ready", "blocked", "checked"):
        return snapshot
    project = db.get(Project, snapshot.project_id)
    if project is None:
        raise NotFound(f"the project of export {snapshot_id} is gone")
    report = progress or (lambda _f, _m: None)
    params = snapshot.params
    final = export_root / f"{snapshot.id}"
    partial = export_root / f"{snapshot.id}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # a crashed earlier attempt
    partial.mkdir(parents=True)
    writer = _Writer(db, project, snapshot, partial, counter_for(tokenizer_path))
    try:
        writer.write_items(report)
    finally:
        writer.files.close()
    gates = [_gate_json(g) for g in writer.checker.results()]
    if not any(name != "items.jsonl" for name in writer.files.rows):
        gates.insert(0, {"name": "not_empty", "status": GateStatus.block.value,
                         "summary": "no items match the filters", "items": []})  # fmt: skip
    snapshot.gates = gates
    if any(g["status"] == GateStatus.block.value for g in gates) or params.get("dry_run"):
        shutil.rmtree(partial)
        snapshot.state = "checked" if params.get("dry_run") else "blocked"
        return snapshot
    report(0.9, "writing manifest")
    extra = _tool_configs(partial, snapshot, writer.files.rows)
    if params.get("container") in ("parquet", "datasets"):
        for name in list(writer.files.rows):
            if name != "items.jsonl":
                convert = write_parquet if params["container"] == "parquet" else write_datasets_tar
                extra.append(convert(partial / name).name)
    snapshot.manifest = _manifest(snapshot, project, writer, extra, partial)
    (partial / "manifest.json").write_text(
        json.dumps(snapshot.manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    snapshot.directory = final.name
    snapshot.state = "ready"
    return snapshot


class _Writer:
    def __init__(
        self,
        db: Session,
        project: Project,
        snapshot: ExportSnapshot,
        folder: Path,
        counter: TokenCounter,
    ) -> None:
        self.db, self.project, self.snapshot, self.counter = db, project, snapshot, counter
        self.params = snapshot.params
        self.files = JsonlFiles(folder)
        self.checker = GateChecker(
            project_system_prompt=project.system_prompt,
            sequence_len=int(self.params["sequence_len"]),
        )
        self.by_split_source: Counter[tuple[str, str, str]] = Counter()
        self.skipped: list[dict[str, Any]] = []
        self.text_rows: _TextRows | None = None
        self.contamination = export_view(db, project.id)
        self.exclude_flagged = bool(self.params.get("exclude_flagged", True))
        self.left_out_flagged = 0
        self._flagged_in = _Ids()
        self._unchecked_in = _Ids()

    def _filters(self) -> dict[str, Any]:
        p = self.params
        return {
            "approved_only": p["status"] == "approved",
            "tags": p.get("tags") or [],
            "source": p.get("source"),
            "min_rating": p.get("min_rating"),
            "selection_id": p.get("selection_id"),
        }

    def _streams(self) -> Iterator[tuple[str, Iterator[dict[str, Any]], Callable[..., Any]]]:
        name = self.snapshot.format
        if name == TEXT_FORMAT:
            self.text_rows = _TextRows(_template_for(self.params, self.project.chat_template))
            yield (
                "sft",
                repository.stream_examples(self.db, self.project.id, **self._filters()),
                self.text_rows,
            )
            return
        fmt = FORMATS[name]
        if fmt.examples is not None:
            yield (
                "sft",
                repository.stream_examples(self.db, self.project.id, **self._filters()),
                fmt.examples,
            )
        if fmt.pairs is not None:
            yield (
                "preference",
                repository.stream_pairs(self.db, self.project.id, **self._filters()),
                fmt.pairs,
            )

    def write_items(self, report: Progress) -> None:
        template_name = self.params.get("template") or self.project.chat_template
        split_of = Splitter(
            validation_fraction=float(self.params["validation_fraction"]),
            seed=str(self.params["seed"]),
        )
        files, checker, count = self.files, self.checker, self.counter.count
        done = 0
        view = self.contamination
        for kind, stream, build in self._streams():
            item_kind = ItemKind.example if kind == "sft" else ItemKind.pair
            flagged, unchecked = view.flagged[item_kind], view.unchecked[item_kind]
            for item in stream:
                if item["id"] in flagged:
                    if self.exclude_flagged:
                        self.left_out_flagged += 1
                        continue
                    self._flagged_in.add(item["id"])
                if item["id"] in unchecked:
                    self._unchecked_in.add(item["id"])
                try:
                    row = build(item)
                except ExportRowError as exc:
                    self.skipped.append({"kind": kind, "id": item["id"], "reason": str(exc)})
                    continue
                content_hash = item["content_hash"]
                split = split_of(content_hash)
                files.write(f"{kind}_{split}.jsonl", row)
                files.write_line(
                    "items.jsonl", item_line(kind, item["id"], item["version"], content_hash, split)
                )
                messages = item["messages"] if kind == "sft" else item["prompt"] + item["chosen"]
                text = row["text"] if "text" in row else _plain_text(messages)
                checker.add(
                    item_id=item["id"], kind="example" if kind == "sft" else "pair",
                    messages=messages, source=item["source"], template=template_name,
                    token_count=count(text), content_hash=content_hash,
                )  # fmt: skip
                self.by_split_source[(kind, split, item["source"])] += 1
                done += 1
                if done % 5000 == 0:
                    report(0.05, f"wrote {done:,} rows")
        self.checker.contamination = self._contamination_gate()

    def _contamination_gate(self) -> GateResult:
        name = "contamination"
        if not self.contamination.has_sets:
            return GateResult(name, GateStatus.not_checked, "no frozen eval sets to check against")
        if self._flagged_in.count:
            n = self._flagged_in.count
            return GateResult(name, GateStatus.block,
                              f"{n:,} rows with open contamination flags",
                              self._flagged_in.first)  # fmt: skip
        left_out = f"; {self.left_out_flagged:,} flagged rows left out"
        if self._unchecked_in.count:
            n = self._unchecked_in.count
            return GateResult(name, GateStatus.warn,
                              f"{n:,} rows not checked since their last edit{left_out}",
                              self._unchecked_in.first)  # fmt: skip
        summary = f"every row checked after its last edit, no open flags{left_out}"
        return GateResult(name, GateStatus.passed, summary)


class _Ids:
    """A count of offending ids and the first MAX_ITEMS of them (memory stays flat)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[int] = []

    def add(self, item_id: int) -> None:
        self.count += 1
        if len(self.first) < MAX_ITEMS:
            self.first.append(item_id)


def _plain_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages)


def _tool_configs(folder: Path, snapshot: ExportSnapshot, rows: dict[str, int]) -> list[str]:
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


def _manifest(
    snapshot: ExportSnapshot, project: Project, writer: _Writer, extra: list[str], folder: Path
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
    if writer.skipped:
        notes.append(f"{len(writer.skipped):,} items could not be written in this format")
    if writer.left_out_flagged:
        notes.append(
            f"{writer.left_out_flagged:,} items with open contamination flags were left out"
        )
    names = sorted({*writer.files.rows, *extra})
    return {
        "trellis_version": __version__,
        "snapshot": snapshot.id,
        "project": project.slug,
        "created_at": utcnow().isoformat(),
        "format": snapshot.format,
        "template": params.get("template"),
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
        "gates": snapshot.gates,
        "notes": notes,
        "skipped": writer.skipped[:1000],
        "files": {
            name: {
                "sha256": sha256_file(folder / name),
                "bytes": (folder / name).stat().st_size,
                **({"rows": writer.files.rows[name]} if name in writer.files.rows else {}),
            }
            for name in names
        },
    }


def _gate_json(gate: Any) -> dict[str, Any]:
    data = asdict(gate)
    data["status"] = gate.status.value
    return data
