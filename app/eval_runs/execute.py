"""The ``evaluation_run`` job: score the model under test and the base model's prompt variants
on every chosen eval set, chunk by chunk, then store the gate report and verdict.

Each finished chunk is stored in its own short transaction before progress is reported (which
is where a cancel is noticed), so a worker that dies, or a cancel, loses at most the chunk in
flight; a re-run (the reaper re-queues a job whose worker stopped beating) reads what is stored
and generates only the rest. Models are loaded between transactions, never inside one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import Invalid, NotFound
from app.eval_runs import judging, repository
from app.eval_runs.items import FieldSettings, ItemFieldError, category_of, to_item
from app.eval_runs.report import BASE_PREFIX, TUNE, SetInput, build
from app.evaluation.gates import Capability
from app.evaluation.generation.base import GenerationBackend
from app.evaluation.prompts import FewShot, PromptVariant, variants
from app.evaluation.runner import EvalItem, ItemRecord, run_evaluation
from app.evaluation.scorers.judge import PairwiseJudge
from app.evaluation.scorers.multiple_choice import ChoiceQuestion, score_by_loglikelihood
from app.evaluation.scoring import make_scorer
from app.models import EvaluationResult, Project
from app.models.base import utcnow

Progress = Callable[[float, str], None]
CHUNK_SIZE = 16


@dataclass
class SetPlan:
    eval_set_id: int
    slug: str
    settings: dict[str, Any]
    items: list[EvalItem]

    @property
    def role(self) -> str:
        return str(self.settings["role"])


@dataclass
class Plan:
    run_id: int
    model_kind: str
    base_model: str
    adapter_path: str | None
    backend: str
    endpoint: dict[str, str | None]
    tune_variant: PromptVariant
    baselines: list[PromptVariant]
    settings: dict[str, Any]
    sets: list[SetPlan]
    done: set[tuple[str, int]] = field(default_factory=set)

    def models(self) -> list[tuple[str, PromptVariant]]:
        base = [] if self.model_kind == "prompt" else self.baselines
        return [(BASE_PREFIX + v.name, v) for v in base] + [(TUNE, self.tune_variant)]

    def opponent(self) -> tuple[str, PromptVariant]:
        """A judge set's base model: the tune's own prompt variant, or for a prompt run (the
        model under test *is* the base with a prompt) the plain base model."""
        by_name = {v.name: v for v in self.baselines}
        variant = by_name.get("plain", self.baselines[0]) if self.model_kind == "prompt" else (
            self.tune_variant)  # fmt: skip
        return BASE_PREFIX + variant.name, variant

    def outputs(self, set_plan: SetPlan) -> int:
        per_item = 2 if set_plan.settings["scorer"] == "judge" else len(self.models())
        return len(set_plan.items) * per_item


def _variants(project: Project, shots: list[FewShot], k: int) -> dict[str, PromptVariant]:
    k = min(k, len(shots))  # fewer clean examples than asked: as many shots as there are
    ladder = variants(project.system_prompt or None, shots, ks=(0, k) if k else (0,))
    found = {v.name: v for v in ladder}
    found["fewshot"] = ladder[-1] if k and len(ladder) > 1 else found.get("system", ladder[0])
    found.setdefault("system", ladder[0])
    return found


def _shots(db: Session, project: Project, k: int) -> list[FewShot]:
    shots = []
    for example in repository.clean_approved_examples(db, project.id, k):
        users = [m for m in example.messages if m.get("role") == "user"]
        answers = [m for m in example.messages if m.get("role") == "assistant"]
        if users and answers and isinstance(users[0].get("content"), str):
            shots.append(FewShot(str(users[0]["content"]), str(answers[-1].get("content") or "")))
    return shots


def _plan(db: Session, run_id: int) -> Plan | None:
    """Mark the run running and read what it needs; None when it has finished already."""
    run = repository.get_run_for_update(db, run_id)
    if run is None:
        raise NotFound(f"evaluation run {run_id} not found")
    if run.finished:
        return None
    project = db.get(Project, run.project_id)
    assert project is not None
    k = int(run.settings.get("few_shot", 0))
    ladder = _variants(project, _shots(db, project, k), k)
    sets = []
    for eval_set_id in run.eval_set_ids:
        settings = run.settings["sets"][str(eval_set_id)]
        fields = FieldSettings(settings["scorer"], settings["prompt_field"],
                               settings["reference_field"], settings["category_field"])  # fmt: skip
        items = []
        for row in repository.items_of(db, eval_set_id):
            try:
                item = to_item(str(row.id), row.original, fields)
            except ItemFieldError as exc:
                raise Invalid(
                    f"eval set '{settings['name']}' item {row.position + 1}: {exc}",
                    details={"eval_set_id": eval_set_id, "position": row.position},
                ) from exc
            item.meta["category"] = category_of(row.original, fields)
            items.append(item)
        sets.append(SetPlan(eval_set_id, settings["slug"], settings, items))
    baselines = [ladder[name] for name in ("plain", "system") if name in ladder]
    if ladder["fewshot"] not in baselines:
        baselines.append(ladder["fewshot"])
    plan = Plan(
        run.id, run.model_kind, run.base_model, run.adapter_path, run.backend,
        {"url": run.endpoint_url, "model": run.endpoint_model,
         "base_model": run.endpoint_base_model, "api_key_env": run.api_key_env},
        ladder.get(run.prompt_variant, ladder["system"]), list(dict.fromkeys(baselines)),
        dict(run.settings), sets, repository.done_keys(db, run.id),
    )  # fmt: skip
    run.state, run.error = "running", None
    run.started_at = run.started_at or utcnow()
    run.total = sum(plan.outputs(s) for s in sets)
    run.done = len(plan.done)
    return plan


def make_backend(plan: Plan, which: str) -> GenerationBackend:
    """The backend for the base model (``base``) or the model under test (``tune``)."""
    if plan.backend == "endpoint":
        from app.evaluation.generation.openai_backend import (
            EndpointConfig,
            OpenAICompatibleBackend,
        )

        model = plan.endpoint["model"] if which == TUNE else (
            plan.endpoint["base_model"] or plan.endpoint["model"])  # fmt: skip
        return OpenAICompatibleBackend(
            EndpointConfig(str(plan.endpoint["url"]), str(model), plan.endpoint["api_key_env"])
        )
    from app.evaluation.generation.transformers_backend import TransformersBackend

    if which == TUNE and plan.model_kind != "prompt" and plan.adapter_path:
        return TransformersBackend(plan.base_model, adapter_dir=plan.adapter_path,
                                   merge_adapter=plan.model_kind == "merged")  # fmt: skip
    return TransformersBackend(plan.base_model)


def _store(factory: sessionmaker[Session] | None, plan: Plan, set_plan: SetPlan,
           batches: list[tuple[str, list[ItemRecord]]], seconds: float) -> None:  # fmt: skip
    """Store one chunk's records (of one or more models) in one transaction."""
    share = seconds / max(1, sum(len(records) for _, records in batches))

    def write(db: Session) -> None:
        rows = [
            EvaluationResult(
                run_id=plan.run_id, eval_set_id=set_plan.eval_set_id,
                eval_item_id=int(r.item_id), model=model, output=r.output, score=r.score,
                extracted=r.extracted, detail=r.detail, new_tokens=r.new_tokens, latency_s=share,
            )
            for model, records in batches
            for r in records
        ]  # fmt: skip
        repository.add_results(db, rows)
        run = repository.get_run_for_update(db, plan.run_id)
        if run is not None:
            run.done = repository.result_count(db, plan.run_id)

    transaction(write, factory)
    plan.done.update((model, int(r.item_id)) for model, records in batches for r in records)


def _score_all(plan: Plan, factory: sessionmaker[Session] | None, progress: Progress,
               backends: Callable[[Plan, str], GenerationBackend]) -> None:  # fmt: skip
    total = max(1, sum(plan.outputs(s) for s in plan.sets))
    loaded: dict[str, GenerationBackend] = {}

    def backend_for(which: str) -> GenerationBackend:
        if which not in loaded:
            progress(len(plan.done) / total, f"loading the {which} model")
            loaded[which] = judging.judge_backend(plan.settings) if which == "judge" else (
                backends(plan, which))  # fmt: skip
        return loaded[which]

    for set_plan in plan.sets:
        settings = set_plan.settings
        if settings["scorer"] == "judge":
            _judge_set(plan, set_plan, factory, backend_for,
                       lambda label: progress(len(plan.done) / total, label))  # fmt: skip
            continue
        confirm = settings.get("judge_refusals") and settings["scorer"] == "refusal"
        scorer = make_scorer(settings["scorer"], pattern=settings["pattern"] or None,
                             schema=settings.get("json_schema"), judge=judging.refusal_confirmer(
                                 backend_for("judge")) if confirm else None)  # fmt: skip
        for model, variant in plan.models():
            done = {str(i) for m, i in plan.done if m == model}
            if all(item.id in done for item in set_plan.items):
                continue
            which = TUNE if model == TUNE else "base"
            backend = backend_for(which)
            clock = [time.perf_counter()]

            def on_chunk(
                records: list[ItemRecord], _f: int, _t: int, model: str = model,
                set_plan: SetPlan = set_plan, clock: list[float] = clock,
            ) -> None:  # fmt: skip
                now = time.perf_counter()
                _store(factory, plan, set_plan, [(model, records)], now - clock[0])
                clock[0] = now
                progress(len(plan.done) / total, f"{set_plan.slug}: {model}")

            if settings["scorer"] == "multiple_choice" and getattr(backend, "name", "") == (
                "transformers"
            ):
                by_loglikelihood(backend, set_plan.items, variant, done, on_chunk)
                continue
            run_evaluation(
                backend, set_plan.items, scorer, variant=variant,
                max_new_tokens=int(settings["max_new_tokens"]), chunk_size=CHUNK_SIZE,
                done_ids=done, on_chunk=on_chunk,
            )  # fmt: skip
    for backend in loaded.values():
        close = getattr(backend, "close", None)
        if callable(close):
            close()


def _judge_set(plan: Plan, set_plan: SetPlan, factory: sessionmaker[Session] | None,
               backend_for: Callable[[str], GenerationBackend],
               report: Callable[[str], None]) -> None:  # fmt: skip
    opponent, variant = plan.opponent()
    done = {str(i) for m, i in plan.done if m == TUNE} & {str(i) for m, i in plan.done
                                                          if m == opponent}  # fmt: skip
    if all(item.id in done for item in set_plan.items):
        return
    base, tune = backend_for("base"), backend_for(TUNE)
    judge = PairwiseJudge(backend_for("judge"))
    clock = [time.perf_counter()]

    def on_chunk(tune_records: list[ItemRecord], base_records: list[ItemRecord]) -> None:
        now = time.perf_counter()
        batches = [(TUNE, tune_records), (opponent, base_records)]
        _store(factory, plan, set_plan, batches, now - clock[0])
        clock[0] = now
        report(f"{set_plan.slug}: judged")

    judging.judge_set(
        set_plan.items, (base, variant), (tune, plan.tune_variant), judge,
        max_new_tokens=int(set_plan.settings["max_new_tokens"]), done=done,
        chunk_size=CHUNK_SIZE, on_chunk=on_chunk,
    )  # fmt: skip


def by_loglikelihood(
    backend: Any, items: list[EvalItem], variant: PromptVariant, done: set[str],
    on_chunk: Callable[[list[ItemRecord], int, int], None],
) -> None:  # fmt: skip
    """Multiple choice on a backend that scores text: the option with the highest
    log-likelihood after the item's prompt (rendered with the variant) is the answer. Chunked
    and resumable like the runner; the stored output is the chosen letter."""
    pending = [item for item in items if item.id not in done]
    finished = len(items) - len(pending)
    for start in range(0, len(pending), CHUNK_SIZE):
        records = []
        for item in pending[start : start + CHUNK_SIZE]:
            question = ChoiceQuestion(str(item.meta["question"]), tuple(item.meta["options"]),
                                      item.reference)  # fmt: skip
            logprobs = backend.option_logprobs(
                variant.messages(item.prompt), [f" {option}" for option in question.options]
            )
            scored = score_by_loglikelihood(logprobs, question)
            records.append(ItemRecord(item.id, item.prompt, item.reference, scored.extracted or "",
                                      scored.score, scored.extracted,
                                      {**scored.detail, "by": "loglikelihood"}, 0))  # fmt: skip
        finished += len(records)
        on_chunk(records, finished, len(items))


def _capability(plan: Plan) -> tuple[Capability | None, dict[str, float]]:
    """lm-eval on the policy's local task files, base vs tune, when the policy asks for it."""
    settings = plan.settings
    tasks, task_dir = settings.get("capability_tasks") or [], settings.get("capability_task_dir")
    if (settings.get("max_capability_drop") is None or not tasks or not task_dir
            or plan.model_kind == "prompt" or not plan.adapter_path
            or plan.backend != "transformers"):  # fmt: skip
        return None, {}
    if not Path(task_dir).is_dir():
        raise Invalid(f"capability task directory {task_dir} does not exist on the worker")
    from app.evaluation.harness import compare_capability

    compared = compare_capability(plan.base_model, plan.adapter_path, Path(task_dir), list(tasks))
    return compared.capability(), compared.drops()


def _finish(db: Session, plan: Plan, capability: Capability | None,
            drops: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    run = repository.get_run_for_update(db, plan.run_id)
    if run is None:
        raise NotFound(f"evaluation run {plan.run_id} not found")
    stored = repository.results(db, plan.run_id)
    inputs, latency = [], {}
    for set_plan in plan.sets:
        scores: dict[str, dict[int, float]] = {}
        for row in stored:
            if row.eval_set_id == set_plan.eval_set_id:
                scores.setdefault(row.model, {})[row.eval_item_id] = row.score
        s = set_plan.settings
        inputs.append(SetInput(set_plan.eval_set_id, set_plan.slug, s["role"], s["min_score"],
                               s["min_gain"], scores))  # fmt: skip
    for model in {r.model for r in stored}:
        mine = [r for r in stored if r.model == model]
        seconds = sum(r.latency_s for r in mine)
        tokens = sum(r.new_tokens for r in mine)
        latency[model] = {
            "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
            "mean_latency_s": seconds / len(mine),
        }
    report = build(plan.settings, inputs, model_kind=plan.model_kind, capability=capability,
                   capability_tasks=drops, latency=latency)  # fmt: skip
    run.report, run.verdict, run.passed = report, report["verdict"], report["passed"]
    run.state, run.finished_at, run.done = "succeeded", utcnow(), len(stored)
    return {"run_id": run.id, "verdict": run.verdict, "passed": run.passed}


def execute(
    run_id: int,
    factory: sessionmaker[Session] | None,
    progress: Progress,
    backends: Callable[[Plan, str], GenerationBackend] | None = None,
) -> dict[str, Any]:
    """Score what is not stored yet, then store the report (the ``evaluation_run`` job)."""
    plan = transaction(lambda db: _plan(db, run_id), factory)
    if plan is None:
        return {"run_id": run_id, "skipped": "already finished"}
    _score_all(plan, factory, progress, backends or make_backend)
    progress(0.97, "general capability" if plan.settings.get("capability_tasks") else "report")
    capability, drops = _capability(plan)
    return transaction(lambda db: _finish(db, plan, capability, drops), factory)
