"""One streaming pass over a snapshot's selected items: every file written, the quality gates
computed on the way. Reads the database, never writes it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.contamination.service import export_view
from app.exports import repository
from app.exports.chat_templates import (
    ChatTemplate,
    TemplateError,
    from_source,
    get_template,
    render,
)
from app.exports.files import JsonlFiles, item_line
from app.exports.gates import MAX_ITEMS, GateChecker, GateResult, GateStatus
from app.exports.rows import FORMATS, ExportRowError
from app.exports.rows_kto import KTO_FORMAT, kto_row
from app.exports.split import Splitter
from app.exports.tokens import TokenCounter
from app.models import ExportSnapshot, ItemKind, Project

TEXT_FORMAT = "text"
LEFT_OUT_KEPT = 1000
NEEDS_RESPONSE_REASON = "needs a response: no final assistant turn"
FLAGGED_REASON = "open contamination flag"
Progress = Callable[[float, str], None]


def template_for(params: dict[str, Any], project_default: str) -> ChatTemplate:
    """The template a text export renders with: its own custom one, or a built-in by name."""
    custom = params.get("custom_template")
    if custom:
        return from_source(
            f"custom:{custom['name']}", custom["source"], custom["bos_token"], custom["eos_token"]
        )
    return get_template(params.get("template") or project_default)


class TextRows:
    """`text` rows: each conversation rendered through a chat template.

    Templates such as llama3, mistral and gemma start the text with the BOS string, and the
    trainers tokenize a `text` row with special tokens added (TRL's SFTTrainer calls the
    tokenizer with its defaults), so the BOS string and the tokenizer's own BOS would both be
    there: every row would train with two. Unless `bos_in_text`, the leading BOS is dropped and
    counted (`bos_removed`)."""

    def __init__(self, template: ChatTemplate, *, bos_in_text: bool = False) -> None:
        self.template = template
        self.folded = 0
        self.bos_in_text = bos_in_text
        self.bos_removed = 0

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        try:
            rendered = render(self.template, item["messages"], tools=item.get("tools"))
        except TemplateError as exc:
            raise ExportRowError(item["id"], str(exc)) from exc
        self.folded += rendered.folded_system
        text, bos = rendered.text, self.template.bos_token
        if bos and not self.bos_in_text and text.startswith(bos):
            text = text[len(bos) :]
            self.bos_removed += 1
        return {"text": text}


class SnapshotWriter:
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
        self.text_rows: TextRows | None = None
        self.contamination = export_view(db, project.id)
        self.exclude_flagged = bool(self.params.get("exclude_flagged", True))
        self.left_out_flagged = 0
        self._flagged_in = _Ids()
        # Every item the selection holds that the files leave out, with the reason.
        self.left_out: list[dict[str, Any]] = []
        self.left_out_total: Counter[str] = Counter()
        self.needs_response = 0
        self._unchecked_in = _Ids()
        self.feedback_rows = 0

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
        if name == KTO_FORMAT:
            source = self.params.get("source")
            yield "kto", repository.stream_feedback(self.db, self.project.id, source), kto_row
            return
        if name == TEXT_FORMAT:
            self.text_rows = TextRows(
                template_for(self.params, self.project.chat_template),
                bos_in_text=bool(self.params.get("bos_in_text", False)),
            )
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

    def _expected_rows(self) -> int:
        if self.snapshot.format == KTO_FORMAT:
            return repository.count_feedback(self.db, self.project.id)
        fmt = FORMATS.get(self.snapshot.format)
        sft = self.snapshot.format == TEXT_FORMAT or (fmt is not None and fmt.examples is not None)
        pairs = fmt is not None and fmt.pairs is not None
        filters = self._filters()
        return sum(
            repository.count_selected(self.db, self.project.id, is_pairs, **filters)
            for is_pairs, wanted in ((False, sft), (True, pairs))
            if wanted
        )

    def write_items(self, report: Progress) -> None:
        template_name = self.params.get("template") or self.project.chat_template
        split_of = Splitter(
            validation_fraction=float(self.params["validation_fraction"]),
            seed=str(self.params["seed"]),
        )
        files, checker, count = self.files, self.checker, self.counter.count
        done = 0
        total = max(1, self._expected_rows())
        self._left_out_unanswered()
        view = self.contamination
        for kind, stream, build in self._streams():
            item_kind = ItemKind.example if kind == "sft" else ItemKind.pair
            flagged, unchecked = view.flagged[item_kind], view.unchecked[item_kind]
            if kind == "kto":  # feedback rows are not items: no contamination check ran on them
                flagged, unchecked = set(), set()
            for item in stream:
                if kind == "kto":
                    self.feedback_rows += 1
                if item["id"] in flagged:
                    if self.exclude_flagged:
                        self.left_out_flagged += 1
                        self._leave_out(kind, item["id"], "contamination", FLAGGED_REASON)
                        continue
                    self._flagged_in.add(item["id"])
                if item["id"] in unchecked:
                    self._unchecked_in.add(item["id"])
                try:
                    row = build(item)
                except ExportRowError as exc:
                    self.skipped.append({"kind": kind, "id": item["id"], "reason": str(exc)})
                    reason = f"not writable in this format: {exc}"
                    self._leave_out(kind, item["id"], "format", reason)
                    continue
                content_hash = item["content_hash"]
                split = split_of(content_hash)
                files.write(f"{kind}_{split}.jsonl", row)
                files.write_line(
                    "items.jsonl", item_line(kind, item["id"], item["version"], content_hash, split)
                )
                messages = (
                    item["messages"] if "messages" in item else item["prompt"] + item["chosen"]
                )
                text = row["text"] if "text" in row else _plain_text(messages)
                checker.add(
                    item_id=item["id"], kind="pair" if kind == "preference" else "example",
                    messages=messages, source=item["source"], template=template_name,
                    token_count=count(text), content_hash=content_hash,
                )  # fmt: skip
                self.by_split_source[(kind, split, item["source"])] += 1
                done += 1
                if done % 5000 == 0:
                    report(
                        0.02 + 0.86 * min(1.0, done / total), f"wrote {done:,} of {total:,} rows"
                    )
        self.checker.contamination = self._contamination_gate()

    def _leave_out(self, kind: str, item_id: int, cause: str, reason: str) -> None:
        self.left_out_total[cause] += 1
        if len(self.left_out) < LEFT_OUT_KEPT:
            self.left_out.append({"kind": kind, "id": item_id, "cause": cause, "reason": reason})

    def _left_out_unanswered(self) -> None:
        """Examples the filters select but that have no answer yet are never exported as is:
        name them too, so nothing leaves the export without a trace."""
        if not any(kind == "sft" for kind in self._kinds()):
            return
        total, ids = repository.needing_response(
            self.db, self.project.id, LEFT_OUT_KEPT, **self._filters()
        )
        for item_id in ids:
            self._leave_out("sft", item_id, "needs_response", NEEDS_RESPONSE_REASON)
        self.left_out_total["needs_response"] += total - len(ids)
        self.needs_response = total

    def _kinds(self) -> list[str]:
        fmt = FORMATS.get(self.snapshot.format)
        kinds = []
        if self.snapshot.format == TEXT_FORMAT or (fmt is not None and fmt.examples is not None):
            kinds.append("sft")
        if fmt is not None and fmt.pairs is not None:
            kinds.append("preference")
        return kinds

    def _contamination_gate(self) -> GateResult:
        name = "contamination"
        if not self.contamination.has_sets:
            return GateResult(name, GateStatus.not_checked, "no frozen eval sets to check against")
        if self.feedback_rows:
            return GateResult(name, GateStatus.warn,
                              f"{self.feedback_rows:,} feedback rows are not checked against "
                              "the eval sets (the pairs made from them are)")  # fmt: skip
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
