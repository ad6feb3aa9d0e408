"""Quality gates over an export, computed in one streaming pass.

Feed every row to :meth:`GateChecker.add` once, then read :meth:`GateChecker.results`.
Memory is bounded: per gate a counter plus at most ``MAX_ITEMS`` offending ids, one set of the
content hashes seen (for ``duplicates``) and the set of template names seen.

Gates, in the order reported:

* ``one_template`` - block when rows were rendered with more than one chat template name.
* ``system_prompt`` - when the project has a system prompt, warn listing conversations whose
  first turn is not a system turn with exactly that content; pass otherwise.
* ``contamination`` - computed elsewhere and passed in; ``not_checked`` by default.
* ``real_data`` - pass when the share of non-``synthetic`` rows is at least
  ``min_real_share``, else warn.
* ``token_length`` - warn listing rows with ``token_count > sequence_len``; block when every
  row is over.
* ``empty_assistant`` - block listing rows whose final assistant turn is missing or blank
  (content empty/whitespace and no tool calls); for SFT examples the last turn must also be
  an assistant turn.
* ``truncated_assistant`` - warn listing rows whose final assistant text looks cut off: longer
  than ``TRUNCATION_MIN_CHARS`` characters (after stripping) and not ending in terminal
  punctuation, a closing quote/bracket, a closing code fence or inline code, or markdown
  emphasis/table syntax (see ``_TERMINAL``). A heuristic, hence only a warning.
* ``duplicates`` - warn listing rows whose content hash was already seen (the later copies).

With no rows at all, ``real_data`` is ``not_checked`` and the other own gates pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = ["MAX_ITEMS", "TRUNCATION_MIN_CHARS", "GateChecker", "GateResult", "GateStatus"]

MAX_ITEMS = 100
TRUNCATION_MIN_CHARS = 200

# Final characters that end a complete answer: sentence punctuation (ASCII, ellipsis, CJK),
# closing quotes/brackets, backtick (closing ``` fence or inline code), markdown emphasis and
# table pipes.
_TERMINAL = frozenset(".!?\u2026\u3002\uff01\uff1f\"'\u201d\u2019\u00bb)]}>`*_|")


class GateStatus(StrEnum):
    passed = "pass"
    warn = "warn"
    block = "block"
    not_checked = "not_checked"


@dataclass
class GateResult:
    name: str
    status: GateStatus
    summary: str
    items: list[int] = field(default_factory=list)  # offending item ids, first MAX_ITEMS


class _Offenders:
    """Count of offending rows plus the first MAX_ITEMS ids."""

    __slots__ = ("count", "ids")

    def __init__(self) -> None:
        self.count = 0
        self.ids: list[int] = []

    def add(self, item_id: int) -> None:
        self.count += 1
        if len(self.ids) < MAX_ITEMS:
            self.ids.append(item_id)


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _final_assistant(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((m for m in reversed(messages) if m.get("role") == "assistant"), None)


def looks_truncated(text: str) -> bool:
    """The ``truncated_assistant`` heuristic (see the module docstring)."""
    stripped = text.strip()
    return len(stripped) > TRUNCATION_MIN_CHARS and stripped[-1] not in _TERMINAL


class GateChecker:
    def __init__(
        self,
        *,
        project_system_prompt: str,
        sequence_len: int,
        min_real_share: float = 0.2,
        contamination: GateResult | None = None,
    ) -> None:
        self.project_system_prompt = project_system_prompt
        self.sequence_len = sequence_len
        self.min_real_share = min_real_share
        self.contamination = contamination
        self._total = 0
        self._real = 0
        self._templates: set[str] = set()
        self._first_template: str | None = None
        self._template_mismatch = _Offenders()
        self._system = _Offenders()
        self._too_long = _Offenders()
        self._empty = _Offenders()
        self._truncated = _Offenders()
        self._duplicates = _Offenders()
        # 64-bit hashes of the content hashes: a set of a million 64-character strings took
        # ~100 MB at 1,000,000 rows (the chance of a false "duplicate" among a million rows is
        # about 3e-8).
        self._hashes: set[int] = set()

    def add(
        self,
        *,
        item_id: int,
        kind: Literal["example", "pair"],
        messages: list[dict[str, Any]],
        source: str,
        template: str,
        token_count: int,
        content_hash: str,
    ) -> None:
        """Account for one exported row (for pairs, ``messages`` is prompt + chosen).

        Runs once per exported row (a million times for a large export), so each gate reads
        what it needs once."""
        self._total += 1
        if source != "synthetic":
            self._real += 1

        if template != self._first_template:
            if self._first_template is None:
                self._first_template = template
            else:
                self._template_mismatch.add(item_id)
            self._templates.add(template)

        if self.project_system_prompt:
            first = messages[0] if messages else None
            if (
                first is None
                or first.get("role") != "system"
                or first.get("content") != self.project_system_prompt
            ):
                self._system.add(item_id)

        if token_count > self.sequence_len:
            self._too_long.add(item_id)

        last = messages[-1] if messages else None
        last_is_assistant = last is not None and last.get("role") == "assistant"
        final = last if last_is_assistant else _final_assistant(messages)
        if final is None or (kind == "example" and not last_is_assistant):
            self._empty.add(item_id)
        else:
            content = final.get("content")
            stripped = content.strip() if isinstance(content, str) else ""
            if not stripped and not final.get("tool_calls"):
                self._empty.add(item_id)
            elif looks_truncated(stripped):
                self._truncated.add(item_id)

        key = hash(content_hash)
        if key in self._hashes:
            self._duplicates.add(item_id)
        else:
            self._hashes.add(key)

    # ----------------------------------------------------------------------------------------

    def results(self) -> list[GateResult]:
        return [
            self._one_template(),
            self._system_prompt(),
            self.contamination
            or GateResult("contamination", GateStatus.not_checked, "contamination not checked"),
            self._real_data(),
            self._token_length(),
            self._simple(
                "empty_assistant",
                self._empty,
                GateStatus.block,
                "with a missing or empty final assistant turn",
                "every row ends with a non-empty assistant turn",
            ),
            self._simple(
                "truncated_assistant",
                self._truncated,
                GateStatus.warn,
                "whose final assistant turn looks cut off mid-sentence",
                "no final assistant turn looks truncated",
            ),
            self._simple(
                "duplicates",
                self._duplicates,
                GateStatus.warn,
                "repeating content already in the export",
                "no duplicate content",
            ),
        ]

    def _one_template(self) -> GateResult:
        names = sorted(self._templates)
        if len(names) > 1:
            return GateResult(
                "one_template",
                GateStatus.block,
                f"{len(names)} chat templates in one export: {', '.join(names)}; "
                f"{_rows(self._template_mismatch.count)} differ from {self._first_template!r}",
                list(self._template_mismatch.ids),
            )
        summary = f"all rows use {names[0]!r}" if names else "no rows"
        return GateResult("one_template", GateStatus.passed, summary, [])

    def _system_prompt(self) -> GateResult:
        if not self.project_system_prompt:
            return GateResult("system_prompt", GateStatus.passed, "project has no system prompt")
        if self._system.count:
            return GateResult(
                "system_prompt",
                GateStatus.warn,
                f"{_rows(self._system.count)} of {self._total} do not start with the project "
                "system prompt",
                list(self._system.ids),
            )
        return GateResult(
            "system_prompt", GateStatus.passed, "every row starts with the project system prompt"
        )

    def _real_data(self) -> GateResult:
        if not self._total:
            return GateResult("real_data", GateStatus.not_checked, "no rows")
        share = self._real / self._total
        summary = (
            f"{share:.0%} of rows are not synthetic ({self._real} of {self._total}); "
            f"minimum {self.min_real_share:.0%}"
        )
        status = GateStatus.passed if share >= self.min_real_share else GateStatus.warn
        return GateResult("real_data", status, summary, [])

    def _token_length(self) -> GateResult:
        over = self._too_long
        if not over.count:
            return GateResult(
                "token_length",
                GateStatus.passed,
                f"every row fits sequence_len {self.sequence_len}",
            )
        status = GateStatus.block if over.count == self._total else GateStatus.warn
        return GateResult(
            "token_length",
            status,
            f"{_rows(over.count)} of {self._total} exceed sequence_len {self.sequence_len}",
            list(over.ids),
        )

    def _simple(
        self,
        name: str,
        offenders: _Offenders,
        status: GateStatus,
        what: str,
        ok: str,
    ) -> GateResult:
        if not offenders.count:
            return GateResult(name, GateStatus.passed, ok, [])
        return GateResult(
            name,
            status,
            f"{_rows(offenders.count)} of {self._total} {what}",
            list(offenders.ids),
        )
