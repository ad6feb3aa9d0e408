"""`trellis eval`: score a model under test on a project's frozen eval sets, print the gate
report and the verdict. For CI: exit 0 when every gate passes, 1 when a gate fails, 2 on a
usage or input error (or when the run could not finish).

The run is stored like one started from the web (it shows in the runs table) and scored in this
process: no worker is needed.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from app.cli.base import app, fail, upgrade_database

USAGE = 2


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def render_report(run_id: int, report: dict[str, Any]) -> str:
    """The table of sets and gates and the verdict, as plain text."""
    from app.eval_runs.report import VERDICT_LABELS

    lines = [f"evaluation {run_id}", ""]
    header = f"{'eval set':<24} {'role':<7} {'tune [95% CI]':<28} {'best prompt':<24} gain"
    lines += [header, "-" * len(header)]
    for s in report["sets"]:
        tune = s["tune"]
        ci = f"{_pct(tune['mean'])} [{_pct(tune['low'])}, {_pct(tune['high'])}] n={tune['n']}"
        best = s.get("best_prompt_score")
        prompt = f"{s['best_prompt']} {_pct(best['mean'])}" if best else "-"
        if s.get("judge"):  # a judge set: won/tied/lost against the base model
            judged = s["judge"]
            prompt = f"vs {judged['opponent']} {judged['wins']}/{judged['ties']}/{judged['losses']}"
        gain = s.get("gain")
        delta = (
            f"{gain['delta'] * 100:+.1f} pts{'' if gain['real'] else ' (not real)'}"
            if gain
            else "-"
        )
        lines.append(f"{s['slug'][:24]:<24} {s['role']:<7} {ci:<28} {prompt[:24]:<24} {delta}")
    lines += ["", "gates:"]
    for g in report["gates"]:
        where = f" ({g['eval_set']})" if g["eval_set"] else ""
        threshold = "-" if g["threshold"] is None else f"{g['threshold']:.3g}"
        note = f"  {g['note']}" if g["note"] else ""
        lines.append(f"  {'PASS' if g['passed'] else 'FAIL'}  {g['name']}{where}: "
                     f"{g['value']:.3g} vs {threshold}{note}")  # fmt: skip
    verdict = VERDICT_LABELS.get(report["verdict"], report["verdict"])
    lines += ["", f"verdict: {verdict} ({report['reason']})"]
    return "\n".join(lines)


class _NoDispatch:
    """This process runs the job itself: nothing is sent to a broker."""

    def send(self, job_id: int, queue: str = "short") -> None:
        return None


def _eval_set_ids(db: Any, project: Any, wanted: list[str]) -> list[int]:
    from app.eval_runs import repository
    from app.eval_runs.report import set_slug

    frozen = repository.frozen_sets(db, project.id)
    ids = []
    for name in wanted:
        names = {s.id: (str(s.id), s.name, set_slug(s.name, s.version), set_slug(s.name))
                 for s in frozen}  # fmt: skip
        found = [s for s in frozen if name in names[s.id]]
        if not found:
            known = ", ".join(set_slug(s.name, s.version) for s in frozen) or "none"
            raise fail(f"no frozen eval set '{name}' in project '{project.slug}' "
                       f"(frozen sets: {known})", USAGE)  # fmt: skip
        ids.append(found[-1].id)
    return ids


@app.command("eval")
def evaluate(
    project: Annotated[str, typer.Argument(help="project slug")],
    model: Annotated[str, typer.Option("--model", help="base model directory (with --endpoint: "
                                                       "the model name there)")],
    adapter: Annotated[int | None, typer.Option("--adapter", help="a succeeded training run: "
                                                "its adapter is the model under test")] = None,
    eval_set: Annotated[list[str] | None, typer.Option("--eval-set", help="eval set (slug, name "
                        "or id), repeatable; default: every frozen set")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint",
                        help="an OpenAI-compatible URL")] = None,
    base_name: Annotated[str | None, typer.Option("--endpoint-base-model",
                         help="the base model's name at the endpoint (baselines)")] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env",
                           help="the NAME of the variable holding the endpoint's key")] = None,
    merged: Annotated[bool, typer.Option("--merged", help="merge the adapter first")] = False,
    prompt: Annotated[str, typer.Option(help="prompt of the model under test: system, plain "
                                             "or fewshot")] = "system",
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:  # fmt: skip
    """Evaluate a model on a project's frozen eval sets; exit 0 when every gate passes."""
    from pydantic import ValidationError

    from app import job_handlers  # noqa: F401 - registers the evaluation job
    from app.db import get_session_factory, session_scope, transaction
    from app.errors import AppError
    from app.eval_runs import service
    from app.eval_runs.schemas import EvaluationCreate
    from app.jobs import dispatch
    from app.jobs.runner import run_job
    from app.models import EvaluationRun
    from app.projects import repository as projects

    upgrade_database()
    fields: dict[str, Any] = {
        "model_kind": ("merged" if merged else "adapter") if adapter is not None else "prompt",
        "training_run_id": adapter, "prompt_variant": prompt,
        "backend": "endpoint" if endpoint else "transformers",
    }  # fmt: skip
    if endpoint:
        fields.update(endpoint_url=endpoint, endpoint_model=model,
                      endpoint_base_model=base_name, api_key_env=api_key_env)  # fmt: skip
    else:
        fields["base_model"] = model
    previous = dispatch.set_dispatcher(_NoDispatch())
    try:
        with session_scope(write=True) as db:
            target = projects.by_slug(db, project)
            if target is None:
                raise fail(f"project '{project}' not found", USAGE)
            fields["eval_set_ids"] = _eval_set_ids(db, target, eval_set or [])
            run = service.create_run(db, target, None, EvaluationCreate.model_validate(fields))
            run_id, job_id = run.id, run.job_id
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        raise fail(f"{where}: {str(first['msg']).removeprefix('Value error, ')}", USAGE) from exc
    except AppError as exc:
        raise fail(exc.message, USAGE) from exc
    finally:
        dispatch.set_dispatcher(previous)
    assert job_id is not None
    run_job(job_id, get_session_factory(), heartbeat_s=30)

    def read(db: Any) -> tuple[str, dict[str, Any] | None, str | None]:
        found = db.get(EvaluationRun, run_id)
        return found.state, found.report, found.error

    state, report, error = transaction(read, write=False)
    if state != "succeeded" or report is None:
        raise fail(f"evaluation {run_id} {state}: {error or 'no report'}", USAGE)
    typer.echo(json.dumps({"run_id": run_id, **report}, indent=2) if as_json
               else render_report(run_id, report))  # fmt: skip
    raise typer.Exit(0 if report["passed"] else 1)
