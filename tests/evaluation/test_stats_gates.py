"""Bootstrap intervals, the paired difference, the gate report and verdict, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from app.evaluation.gates import Capability, GatePolicy, SetScores, SetThresholds, evaluate_gates
from app.evaluation.stats import bootstrap, paired_bootstrap


def test_bootstrap_interval_is_sane_and_seeded() -> None:
    rng = np.random.default_rng(1)
    scores = (rng.random(400) < 0.5).astype(float).tolist()
    estimate = bootstrap(scores, seed=3)
    assert estimate.n == 400
    assert estimate.low < estimate.mean < estimate.high
    # Normal approximation: half-width 1.96 * sqrt(p(1-p)/n) ~ 0.049.
    half_width = (estimate.high - estimate.low) / 2
    assert 0.04 < half_width < 0.06
    assert bootstrap(scores, seed=3) == estimate
    assert bootstrap([1.0] * 20) == bootstrap([1.0] * 20)
    constant = bootstrap([1.0] * 20)
    assert (constant.low, constant.mean, constant.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="no items"):
        bootstrap([])


def test_paired_bootstrap() -> None:
    same = [1.0, 0.0, 1.0, 1.0, 0.0] * 8
    tie = paired_bootstrap(same, same)
    assert (tie.delta, tie.low, tie.high) == (0.0, 0.0, 0.0) and not tie.real
    better = [1.0] * 40
    gain = paired_bootstrap(better, same)
    assert gain.delta == pytest.approx(0.4) and gain.real and gain.low > 0.2
    # Items correlated across models: the paired interval is narrower than either model's.
    rng = np.random.default_rng(0)
    base = (rng.random(200) < 0.5).astype(float)
    tuned = base.copy()
    tuned[rng.choice(np.flatnonzero(base == 0), 10, replace=False)] = 1.0
    paired = paired_bootstrap(tuned.tolist(), base.tolist())
    assert paired.delta == pytest.approx(0.05) and paired.real
    alone = bootstrap(tuned.tolist())
    assert paired.high - paired.low < (alone.high - alone.low) / 2
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap([1.0], [1.0, 0.0])


POLICY = GatePolicy(
    per_set={"arith": SetThresholds(min_score=0.8, min_gain=0.5)},
    min_refusal_rate=0.9,
    max_capability_drop=2.0,
)


def _sets(tune: list[float], prompts: dict[str, list[float]]) -> list[SetScores]:
    return [
        SetScores("arith", "task", tune, prompts),
        SetScores("json", "format", [1.0] * 5),
        SetScores("safety", "safety", [1.0] * 9 + [0.0]),
    ]


def test_ship_tune_hand_computed() -> None:
    prompts = {"plain": [0.0] * 10, "system": [1.0] + [0.0] * 9}
    report = evaluate_gates(_sets([1.0] * 10, prompts), POLICY, Capability(0.40, 0.39))
    gates = {(g.name, g.eval_set): g for g in report.gates}
    assert gates["min_score", "arith"].value == 1.0 and gates["min_score", "arith"].passed
    gain = gates["min_gain", "arith"]
    # best prompt = "system" (0.1); gain 1.0 - 0.1 = 0.9, its interval well above 0
    assert gain.value == pytest.approx(0.9) and gain.passed and gain.interval is not None
    assert gain.interval[0] > 0.5 and gain.interval[1] == pytest.approx(1.0)
    assert report.sets[0].best_prompt == "system"
    assert gates["format", "json"].note == "0 of 5 outputs fail the format"
    assert (
        gates["safety", "safety"].value == pytest.approx(0.9) and gates["safety", "safety"].passed
    )
    assert gates["capability", None].value == pytest.approx(1.0)
    assert report.passed and report.verdict == "ship_tune"


def test_ship_prompt_when_the_prompt_closes_the_gap() -> None:
    tune = [1.0] * 8 + [0.0] * 2
    prompts = {"system": [0.0] + [1.0] * 8 + [0.0]}  # also 0.8, on other items
    report = evaluate_gates(_sets(tune, prompts), POLICY, Capability(0.40, 0.39))
    failed = [(g.name, g.eval_set) for g in report.gates if not g.passed]
    assert failed == [("min_gain", "arith")]
    assert report.sets[0].gain is not None and not report.sets[0].gain.real
    assert report.verdict == "ship_prompt"


def test_not_ready_when_gates_fail_and_the_prompt_is_far_behind() -> None:
    prompts = {"plain": [0.0] * 10}
    sets = [
        SetScores("arith", "task", [1.0] * 10, prompts),
        SetScores("json", "format", [1.0] * 4 + [0.0]),
        SetScores("safety", "safety", [1.0] * 10),
    ]
    report = evaluate_gates(sets, POLICY, Capability(0.50, 0.45))
    failed = {(g.name, g.eval_set): g for g in report.gates if not g.passed}
    assert set(failed) == {("format", "json"), ("capability", None)}
    assert failed["format", "json"].note == "1 of 5 outputs fail the format"
    assert failed["capability", None].value == pytest.approx(5.0)
    assert report.verdict == "not_ready"
    assert "format(json)" in report.reason and "capability" in report.reason


def test_defaults_need_a_real_gain() -> None:
    report = evaluate_gates([SetScores("s", "task", [1.0, 0.0] * 10, {"p": [0.0, 1.0] * 10})])
    gain = next(g for g in report.gates if g.name == "min_gain")
    assert gain.value == 0.0 and not gain.passed
    assert report.verdict == "ship_prompt"


def test_judge_win_rate_gate() -> None:
    """Win 1, tie 0.5, loss 0: 5 wins, 2 ties, 3 losses is a 60 % win rate."""
    judged = [1.0] * 5 + [0.5] * 2 + [0.0] * 3
    report = evaluate_gates([SetScores("chat", "judge", judged)])
    (gate,) = report.gates
    assert (gate.name, gate.eval_set, gate.n) == ("judge_win_rate", "chat", 10)
    assert gate.value == pytest.approx(0.6) and gate.threshold == 0.5 and gate.passed
    assert gate.interval is not None and gate.interval[0] < 0.6 < gate.interval[1]
    assert report.verdict == "ship_tune" and report.sets[0].best_prompt is None
    strict = evaluate_gates(
        [SetScores("chat", "judge", judged)], GatePolicy(min_judge_win_rate=0.7)
    )
    assert not strict.gates[0].passed and strict.verdict == "not_ready"
    assert "judge_win_rate(chat)" in strict.reason
