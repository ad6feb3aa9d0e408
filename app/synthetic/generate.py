"""The generators over a :class:`~app.llm.client.ChatClient`, without the database: they take
seed texts and the pool's texts and return the drafts (or pair candidates, `candidates.py`) to
write, with what each filter dropped. The worker (`worker.py`) reads the inputs and writes the
outcome.

Requests go out ``concurrency`` at a time (`ChatClient.map`); a generator stops when it has
what was asked, when the budget is spent, when the caller cancels (``progress`` raising), or
when ``STALE_ROUNDS`` x concurrency answers in a row add nothing (the model repeats itself).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.llm.client import BudgetExhausted, Cancelled, ChatClient, ChatResult, LLMError
from app.synthetic import rules
from app.synthetic.rouge import RougePool
from app.synthetic.templates import DEPTH_METHODS, TemplateName, render

Progress = Callable[[float, str], None]
Templates = dict[TemplateName, tuple[str, int]]
"""name -> (text, version)."""

STALE_ROUNDS = 3
SEEDS_PER_PROMPT = 6
GENERATED_PER_PROMPT = 2


@dataclass(frozen=True)
class Seed:
    id: int | None
    instruction: str


@dataclass
class Draft:
    instruction: str
    response: str | None = None
    seed_ids: list[int] = field(default_factory=list)
    parent_id: int | None = None
    templates: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    target_id: int | None = None
    """For responses: the draft example that gets the response."""
    messages: list[dict[str, Any]] | None = None
    """For responses: the conversation the response completes."""


@dataclass
class PairDraft:
    """Two answers to one prompt, one per temperature. Nobody has compared them: ``sides`` is
    drawn at random and says which temperature's answer is stored as chosen, which as rejected."""

    prompt: list[dict[str, Any]]
    parent_id: int
    samples: dict[float, str] = field(default_factory=dict)
    """temperature -> answer."""
    templates: dict[str, int] = field(default_factory=dict)
    sides: tuple[float, float] = (0.0, 0.0)
    """(temperature of the answer stored as chosen, of the one stored as rejected)."""

    @property
    def chosen(self) -> str:
        return self.samples[self.sides[0]]

    @property
    def rejected(self) -> str:
        return self.samples[self.sides[1]]


@dataclass
class Outcome:
    drafts: list[Draft] = field(default_factory=list)
    pairs: list[PairDraft] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    stopped: str | None = None
    last_error: str | None = None
    failing: int = 0
    """Failed requests in a row (a down endpoint stops an open-ended generator)."""

    def failed(self, error: LLMError) -> None:
        if isinstance(error, BudgetExhausted):
            self.stopped = "budget"
        elif isinstance(error, Cancelled):
            self.stopped = "cancelled"
        else:
            self.counts["failed_requests"] += 1
            self.failing += 1
            self.last_error = str(error)


@dataclass(frozen=True)
class Sampling:
    temperature: float
    max_tokens: int


class EndpointFailed(LLMError):
    """Every request failed: the endpoint is down or refuses us (the message says how)."""


def _ask(client: ChatClient, sampling: Sampling, prompt: str) -> ChatResult:
    return client.chat(
        [{"role": "user", "content": prompt}],
        temperature=sampling.temperature,
        max_tokens=sampling.max_tokens,
    )


def run_requests(
    client: ChatClient, fn: Callable[[Any], ChatResult], items: Iterable[Any], outcome: Outcome
) -> Iterable[tuple[Any, ChatResult]]:
    """Successful answers; failures counted into ``outcome``. Any exception from the consumer
    (a cancelled job's progress call) cancels the requests in flight."""
    try:
        for item, result in client.map(fn, items):
            if isinstance(result, LLMError):
                outcome.failed(result)
            else:
                outcome.failing = 0
                yield item, result
    except BaseException:
        client.cancel.set()
        raise
    if client.budget.exhausted and outcome.stopped is None:
        outcome.stopped = "budget"


def check_alive(outcome: Outcome, answered: int) -> None:
    if answered == 0 and outcome.counts["failed_requests"] and outcome.last_error:
        raise EndpointFailed(outcome.last_error)


def self_instruct(
    client: ChatClient,
    seeds: Sequence[Seed],
    pool: Sequence[str],
    count: int,
    templates: Templates,
    sampling: Sampling,
    *,
    per_request: int = 8,
    with_responses: bool = True,
    rng: random.Random | None = None,
    progress: Progress | None = None,
) -> Outcome:
    if not seeds:
        raise ValueError("Self-Instruct needs seed tasks: approve some examples or give seeds")
    rng = rng or random.Random(0)  # noqa: S311 - sampling prompts, not secrets
    text, version = templates[TemplateName.self_instruct]
    outcome = Outcome()
    rouge = RougePool([*pool, *(s.instruction for s in seeds if s.id is None)])
    stale_limit = STALE_ROUNDS * max(1, client.settings.concurrency)
    stale, answered = 0, 0

    def prompts() -> Iterator[tuple[str, list[int]]]:
        """Built as a slot frees up (never a round at a time: the pipeline stays full), each
        from the seeds and the tasks made so far, until enough are kept, or the model has
        repeated itself (or the endpoint failed) ``stale_limit`` times in a row."""
        while len(outcome.drafts) < count and max(stale, outcome.failing) < stale_limit:
            chosen = rng.sample(list(seeds), min(SEEDS_PER_PROMPT, len(seeds)))
            made = rng.sample(outcome.drafts, min(GENERATED_PER_PROMPT, len(outcome.drafts)))
            tasks = [s.instruction for s in chosen] + [d.instruction for d in made]
            listing = "\n".join(f"{i}. {t}" for i, t in enumerate(tasks, 1))
            body = render(text, {"tasks": listing, "count": per_request})
            yield body, [s.id for s in chosen if s.id is not None]

    for (_, seed_ids), result in run_requests(
        client, lambda p: _ask(client, sampling, p[0]), prompts(), outcome
    ):
        answered += 1
        before = len(outcome.drafts)
        for instruction in rules.parse_numbered(result.text):
            if len(outcome.drafts) >= count:
                break
            outcome.counts["generated"] += 1
            problem = rules.instruction_problem(instruction)
            if problem is None and not rouge.add_if_novel(instruction)[0]:
                problem = "rouge"
            if problem is not None:
                outcome.counts[f"dropped_{problem}"] += 1
            else:
                outcome.drafts.append(
                    Draft(instruction, seed_ids=seed_ids,
                          templates={TemplateName.self_instruct.value: version},
                          detail={"temperature": sampling.temperature})
                )  # fmt: skip
        stale = stale + 1 if len(outcome.drafts) == before else 0
        if progress:
            progress(0.8 * len(outcome.drafts) / count, f"{len(outcome.drafts)} new tasks")
    check_alive(outcome, answered)
    if with_responses and outcome.drafts:
        _respond(client, outcome, templates, sampling, progress)
    return outcome


def _respond(
    client: ChatClient,
    outcome: Outcome,
    templates: Templates,
    sampling: Sampling,
    progress: Progress | None,
    *,
    check: Callable[[str], str | None] = lambda r: rules.response_problem(r),
) -> None:
    """Ask for each draft's response; drafts without a good one are dropped."""
    text, version = templates[TemplateName.response]
    pending = list(outcome.drafts)

    def ask(draft: Draft) -> ChatResult:
        if draft.messages is not None:
            *head, last = draft.messages
            turn = {**last, "content": render(text, {"instruction": last["content"]})}
            return client.chat(
                [*head, turn], temperature=sampling.temperature, max_tokens=sampling.max_tokens
            )
        return _ask(client, sampling, render(text, {"instruction": draft.instruction}))

    answered, dropped = 0, set()
    for draft, result in run_requests(client, ask, pending, outcome):
        answered += 1
        problem = check(result.text)
        if problem is not None:
            outcome.counts[f"dropped_{problem}"] += 1
            dropped.add(id(draft))
            continue
        draft.response = result.text.strip()
        draft.templates[TemplateName.response.value] = version
        if progress:
            progress(0.8 + 0.2 * answered / len(pending), f"{answered} responses")
    check_alive(outcome, answered)
    # Drafts the budget (or a failed request) left unanswered land as drafts needing one.
    outcome.drafts = [d for d in pending if id(d) not in dropped]


def evol_instruct(
    client: ChatClient,
    parents: Sequence[Seed],
    pool: Sequence[str],
    templates: Templates,
    sampling: Sampling,
    *,
    breadth_share: float = 0.25,
    rng: random.Random | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """One evolution of each parent: in-breadth with probability ``breadth_share``, else
    in-depth with one of the four depth methods; then the elimination rules."""
    rng = rng or random.Random(0)  # noqa: S311 - sampling prompts, not secrets
    outcome = Outcome()
    plans = []
    for parent in parents:
        if rng.random() < breadth_share:
            name, how, method = TemplateName.evol_breadth, "breadth", ""
        else:
            method = rng.choice(DEPTH_METHODS)
            name, how = TemplateName.evol_depth, f"depth:{DEPTH_METHODS.index(method)}"
        text, version = templates[name]
        prompt = render(text, {"instruction": parent.instruction, "method": method})
        plans.append((parent, prompt, name, version, how))
    answered = 0
    rouge = RougePool(pool)
    for (parent, _, name, version, how), result in run_requests(
        client, lambda p: _ask(client, sampling, p[1]), plans, outcome
    ):
        answered += 1
        outcome.counts["generated"] += 1
        evolved = rules.strip_answer(result.text)
        problem = rules.evolution_problem(parent.instruction, evolved)
        if problem is None and not rouge.add_if_novel(evolved)[0]:
            problem = "rouge"
        if problem is not None:
            outcome.counts[f"dropped_{problem}"] += 1
            continue
        outcome.drafts.append(
            Draft(evolved, parent_id=parent.id,
                  seed_ids=[parent.id] if parent.id is not None else [],
                  templates={name.value: version},
                  detail={"evolution": how, "temperature": sampling.temperature})
        )  # fmt: skip
        if progress:
            progress(0.5 * answered / max(1, len(plans)), f"{answered} evolutions")
    check_alive(outcome, answered)
    if outcome.drafts:
        _respond(client, outcome, templates, sampling, progress)
    return outcome


def responses(
    client: ChatClient,
    targets: Sequence[tuple[int, list[dict[str, Any]]]],
    templates: Templates,
    sampling: Sampling,
    *,
    progress: Progress | None = None,
) -> Outcome:
    """A response for each draft conversation that ends on a user turn."""
    outcome = Outcome()
    outcome.drafts = [
        Draft(
            next((m["content"] for m in reversed(msgs) if m["role"] == "user"), ""),
            target_id=item_id,
            parent_id=item_id,
            messages=msgs,
            detail={"temperature": sampling.temperature},
        )
        for item_id, msgs in targets
    ]
    outcome.counts["generated"] = len(targets)
    _respond(
        client, outcome, templates, sampling, progress,
        check=lambda r: None if r.strip() else "empty_response",
    )  # fmt: skip
    answered = [d for d in outcome.drafts if d.response is not None]
    if len(answered) < len(outcome.drafts):
        outcome.counts["unanswered"] = len(outcome.drafts) - len(answered)
    outcome.drafts = answered
    return outcome
