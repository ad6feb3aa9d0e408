"""What the pages show of runs: who is under test, the scores side by side, the verdict."""

from __future__ import annotations

from typing import Any

from app.eval_runs.report import VERDICT_LABELS
from app.models import EvaluationRun


def model_label(run: EvaluationRun) -> str:
    """``base + system prompt``, ``adapter of training run 3``, ``merged run 3 @ endpoint``."""
    if run.model_kind == "prompt":
        text = f"base + {run.prompt_variant} prompt"
    elif run.training_run_id is not None:
        text = f"{run.model_kind} of training run {run.training_run_id}"
    else:
        text = run.model_kind
    if run.backend == "endpoint":
        text += f" @ {run.endpoint_model} ({run.endpoint_url})"
    return text


def verdict_label(verdict: str | None) -> str:
    return VERDICT_LABELS.get(verdict or "", "—")


def score_cell(summary: dict[str, Any]) -> dict[str, Any]:
    tune = summary.get("tune") or {}
    best = summary.get("best_prompt_score") or {}
    return {
        "tune": tune.get("mean"), "low": tune.get("low"), "high": tune.get("high"),
        "n": tune.get("n"), "best_prompt": summary.get("best_prompt"), "base": best.get("mean"),
        "gain": (summary.get("gain") or {}).get("delta"),
    }  # fmt: skip


def runs_table(runs: list[EvaluationRun]) -> tuple[list[str], list[dict[str, Any]]]:
    """(set slugs as columns, a row per run with its score cell per set)."""
    columns: list[str] = []
    rows = []
    for run in runs:
        cells = {}
        for summary in (run.report or {}).get("sets", []):
            if summary["slug"] not in columns:
                columns.append(summary["slug"])
            cells[summary["slug"]] = score_cell(summary)
        rows.append({"run": run, "model": model_label(run), "cells": cells,
                     "verdict": verdict_label(run.verdict)})  # fmt: skip
    return columns, rows


def percent(run: EvaluationRun) -> int:
    if run.state == "succeeded":
        return 100
    return int(100 * run.done / run.total) if run.total else 0
