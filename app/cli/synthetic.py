"""`trellis generate`: synthetic examples (and pair candidates) from an OpenAI-compatible
endpoint."""

from typing import Annotated

import typer

from app.cli.base import app, fail, upgrade_database
from app.config import get_settings


@app.command("generate")
def generate_command(
    project: Annotated[str, typer.Argument(help="project slug")],
    method: Annotated[
        str, typer.Option(help="self_instruct, evol_instruct, responses or pair_candidates")
    ] = "self_instruct",
    count: Annotated[int, typer.Option(help="Self-Instruct: new tasks wanted")] = 20,
    status: Annotated[str, typer.Option(help="draft or submitted (never approved)")] = "draft",
    seed_task: Annotated[
        list[str] | None, typer.Option("--seed-task", help="Self-Instruct: a seed task (repeat)")
    ] = None,
    example_id: Annotated[
        list[int] | None,
        typer.Option(
            "--example-id",
            help="Evol: an example to evolve; responses: a draft; pair candidates: a prompt",
        ),
    ] = None,
    no_responses: Annotated[
        bool, typer.Option("--no-responses", help="Self-Instruct: tasks only")
    ] = False,
    base_url: Annotated[
        str | None, typer.Option(help="set the project's endpoint first (with --model)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="the endpoint's model name")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="NAME of the environment variable holding the key")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="concurrent requests")] = 4,
    max_requests: Annotated[int, typer.Option(help="request budget")] = 200,
    temperature: Annotated[float, typer.Option()] = 0.7,
    temperature_a: Annotated[
        float, typer.Option(help="pair candidates: one sample's temperature")
    ] = 0.3,
    temperature_b: Annotated[
        float, typer.Option(help="pair candidates: the other sample's temperature")
    ] = 1.0,
    wait: Annotated[bool, typer.Option("--wait", help="run it here and print the counts")] = False,
) -> None:
    """Queue a generation (or run it here with --wait); prints the run id."""
    from pydantic import ValidationError

    from app import job_handlers  # noqa: F401 - registers the job kind, as a worker does
    from app.db import get_session_factory, session_scope
    from app.errors import AppError
    from app.jobs.runner import run_job
    from app.models import SyntheticRun
    from app.projects import repository
    from app.synthetic import service
    from app.synthetic.schemas import GenerateIn, SettingsIn

    try:
        data = GenerateIn.model_validate({
            "method": method, "count": count, "status": status, "seed_tasks": seed_task or [],
            "example_ids": example_id or [], "with_responses": not no_responses,
            "temperature_a": temperature_a, "temperature_b": temperature_b,
        })  # fmt: skip
        endpoint = None
        if base_url is not None or model is not None:
            endpoint = SettingsIn.model_validate({
                "base_url": base_url or "", "model": model or "", "api_key_env": api_key_env,
                "concurrency": concurrency, "max_requests": max_requests,
                "temperature": temperature,
            })  # fmt: skip
    except ValidationError as exc:
        raise fail(
            "; ".join(
                f"--{'-'.join(str(p).replace('_', '-') for p in e['loc'])}: {e['msg']}"
                for e in exc.errors()
            ),
            2,
        ) from exc
    upgrade_database()
    try:
        with session_scope(write=True) as db:
            target = repository.by_slug(db, project)
            if target is None:
                raise fail(f"project '{project}' not found")
            if endpoint is not None:
                service.save_settings(db, target, None, endpoint)
            run = service.start(db, target, None, data)
            run_id, job_id = run.id, run.job_id
    except AppError as exc:
        raise fail(exc.message) from exc
    typer.echo(run_id)
    if not wait or job_id is None:
        return
    run_job(job_id, get_session_factory(), heartbeat_s=get_settings().job_heartbeat_s)
    with session_scope() as db:
        done = db.get(SyntheticRun, run_id)
        state, counts, error = done.state, dict(done.counts), done.error  # type: ignore[union-attr]
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items() if k != "last_error"))
    if state != "succeeded":
        raise fail(f"generation {run_id} {state}: {error or ''}")
