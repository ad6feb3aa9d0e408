"""Back to the data: a failed eval item becomes a *new* draft training example written by a
person, tagged ``eval-gap:<set>:<category>``. The eval text is never copied into it: the form
starts empty, a text that holds the eval item's prompt or reference is refused here, and the
contamination check runs on the new example as on any edit."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from app.errors import Invalid
from app.eval_runs import results
from app.eval_runs.report import set_slug
from app.eval_runs.schemas import EvaluationItemOut
from app.examples import service as examples
from app.models import EvaluationRun, Example, Project, User

_SPACE = re.compile(r"\s+")


def gap_tag(run: EvaluationRun, result: EvaluationItemOut) -> str:
    settings = run.settings["sets"][str(result.eval_set_id)]
    category = set_slug(result.category or "general")
    return f"eval-gap:{settings['slug']}:{category}"[:200]


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def _copies(written: str, source: str) -> bool:
    source = _normal(source)
    return len(source) >= 6 and source in _normal(written)


def write_example(
    db: Session,
    project: Project,
    user: User,
    run: EvaluationRun,
    eval_item_id: int,
    prompt: str,
    response: str,
) -> Example:
    """A new draft example (user prompt, optional assistant response) for the item's gap."""
    result = results.one(db, run, eval_item_id)
    if not prompt.strip():
        raise Invalid("write the new example's prompt", details={"field": "prompt"})
    for field, text in (("prompt", prompt), ("response", response)):
        if _copies(text, result.prompt) or _copies(text, result.reference):
            raise Invalid(
                f"the {field} copies the eval item: eval items must never enter training; "
                "write a similar example of your own",
                details={"field": field},
            )
    messages = [{"role": "user", "content": prompt.strip()}]
    if response.strip():
        messages.append({"role": "assistant", "content": response.strip()})
    return examples.create(db, project, user, messages, [gap_tag(run, result)])
