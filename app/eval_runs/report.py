"""A run's stored per-item scores -> the gate report and verdict (``app.evaluation.gates``), as
JSON for the run's row. Pure: no database, no web.

Models are named ``tune`` (the model under test) and ``base:<variant>`` (the base model with a
prompt variant, the baselines). A run whose model under test *is* a prompt (no adapter) has no
baselines; it passes or fails its gates and its verdict is ``ship_prompt`` or ``not_ready``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from app.evaluation.gates import (
    Capability,
    GatePolicy,
    GateReport,
    SetKind,
    SetScores,
    SetThresholds,
    evaluate_gates,
)
from app.evaluation.stats import Estimate

TUNE = "tune"
BASE_PREFIX = "base:"
VERDICT_LABELS = {
    "ship_tune": "Ship the tune",
    "ship_prompt": "Ship the prompt",
    "not_ready": "Not ready",
}


def set_slug(name: str, version: int = 1) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "set"
    return slug if version == 1 else f"{slug}-v{version}"


@dataclass(frozen=True)
class SetInput:
    eval_set_id: int
    slug: str
    role: SetKind
    min_score: float | None
    min_gain: float | None
    #: model name -> {eval item id: score}
    scores: Mapping[str, Mapping[int, float]]


def policy_of(settings: Mapping[str, Any], sets: Sequence[SetInput]) -> GatePolicy:
    """The gates module's policy from a run's stored settings (see ``service.settings_for``)."""
    default = SetThresholds(
        float(settings.get("default_min_score", 0.0)), float(settings.get("default_min_gain", 0.0))
    )
    per_set = {
        s.slug: SetThresholds(
            default.min_score if s.min_score is None else s.min_score,
            default.min_gain if s.min_gain is None else s.min_gain,
        )
        for s in sets
    }
    drop = settings.get("max_capability_drop")
    return GatePolicy(
        per_set=per_set,
        default=default,
        min_format_compliance=float(settings.get("min_format_compliance", 1.0)),
        min_refusal_rate=float(settings.get("min_refusal_rate", 0.9)),
        max_capability_drop=float(drop) if drop is not None else float("inf"),
        min_judge_win_rate=float(settings.get("min_judge_win_rate", 0.5)),
    )


def _estimate(value: Estimate | None) -> dict[str, float] | None:
    return None if value is None else asdict(value)


def _aligned(sets: Sequence[SetInput]) -> list[SetScores]:
    """Per-item scores in one item order per set; a model missing an item is left out."""
    aligned = []
    for s in sets:
        ids = sorted(s.scores.get(TUNE, {}))
        prompts = {
            name.removeprefix(BASE_PREFIX): [scores[i] for i in ids]
            for name, scores in sorted(s.scores.items())
            if name.startswith(BASE_PREFIX) and all(i in scores for i in ids)
        }
        tune = [s.scores[TUNE][i] for i in ids]
        aligned.append(SetScores(s.slug, s.role, tune, prompts if s.role == "task" else {}))
    return aligned


def build(
    settings: Mapping[str, Any],
    sets: Sequence[SetInput],
    *,
    model_kind: str,
    capability: Capability | None = None,
    capability_tasks: Mapping[str, float] | None = None,
    latency: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """The report as stored on the run: gates, sets (each model's score with its interval), the
    verdict and its reason."""
    present = [s for s in sets if s.scores.get(TUNE)]
    policy = policy_of(settings, present)
    if not present:
        return {"verdict": "not_ready", "reason": "no eval item was scored", "passed": False,
                "gates": [], "sets": [], "capability": None,
                "latency": dict(latency or {})}  # fmt: skip
    report: GateReport = evaluate_gates(_aligned(present), policy, capability)
    verdict, reason = report.verdict, report.reason
    if model_kind == "prompt":
        verdict = "ship_prompt" if report.passed else "not_ready"
        reason = "every gate passes for the prompt" if report.passed else reason
    by_slug = {s.slug: s for s in present}
    out_sets = []
    for summary in report.sets:
        source = by_slug[summary.slug]
        models = {}
        for name, scores in sorted(source.scores.items()):
            values = list(scores.values())
            models[name] = {"mean": sum(values) / len(values), "n": len(values)}
        out_sets.append({
            "slug": summary.slug, "eval_set_id": source.eval_set_id, "role": summary.kind,
            "tune": _estimate(summary.tune), "best_prompt": summary.best_prompt,
            "best_prompt_score": _estimate(summary.best_prompt_score),
            "gain": None if summary.gain is None else {**asdict(summary.gain),
                                                       "real": summary.gain.real},
            "models": models,
        })  # fmt: skip
        if summary.kind == "judge":
            out_sets[-1]["judge"] = judged(source.scores)
    gates = [asdict(g) for g in report.gates]
    for gate in gates:
        if gate["threshold"] == float("inf"):
            gate["threshold"] = None
    return {
        "verdict": verdict, "reason": reason, "passed": report.passed, "gates": gates,
        "sets": out_sets, "latency": dict(latency or {}),
        "capability": None if capability is None else {
            "base": capability.base, "tune": capability.tune,
            "drop_points": capability.drop_points, "tasks": dict(capability_tasks or {})},
    }  # fmt: skip


def judged(scores: Mapping[str, Mapping[int, float]]) -> dict[str, Any]:
    """A judge set's tally: the tune's wins, ties and losses against its opponent."""
    tune = list(scores.get(TUNE, {}).values())
    opponent = next((name for name in sorted(scores) if name.startswith(BASE_PREFIX)), None)
    return {
        "opponent": opponent,
        "wins": sum(1 for s in tune if s == 1.0),
        "ties": sum(1 for s in tune if s == 0.5),
        "losses": sum(1 for s in tune if s == 0.0),
    }


def regression(scores: Mapping[str, float], best_prompt: str | None) -> bool:
    """Base (with the set's best prompt) right, tune wrong."""
    if best_prompt is None:
        return False
    base = scores.get(BASE_PREFIX + best_prompt)
    tune = scores.get(TUNE)
    return base is not None and tune is not None and base >= 1.0 and tune < 1.0
