"""Pair candidates, without the database: two answers to each chosen prompt at two
temperatures, for reviewers to pick from (issue 15). Which answer is stored as chosen is drawn
at random; no preference is claimed until someone compares them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from app.llm.client import ChatClient, ChatResult
from app.synthetic.generate import (
    Outcome,
    PairDraft,
    Progress,
    Templates,
    check_alive,
    run_requests,
)
from app.synthetic.templates import TemplateName, render


def prompt_turns(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The conversation up to and including its last user turn (None without one)."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    return None if last is None else [dict(m) for m in messages[: last + 1]]


def same_text(a: str, b: str) -> bool:
    return a.split() == b.split()


def pair_candidates(
    client: ChatClient,
    targets: Sequence[tuple[int, list[dict[str, Any]]]],
    templates: Templates,
    temperatures: tuple[float, float],
    max_tokens: int,
    *,
    rng: random.Random | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Two answers to each prompt (a conversation ending on a user turn), one at each
    temperature. A prompt whose answers are the same after whitespace is dropped
    (``dropped_identical_samples``), one with an empty answer too (``dropped_empty_response``);
    one the budget or a failed request left with fewer than two answers is ``unanswered``."""
    rng = rng or random.Random(0)  # noqa: S311 - which side is which, not secrets
    text, version = templates[TemplateName.response]
    drafts = [
        PairDraft(prompt, item_id, templates={TemplateName.response.value: version})
        for item_id, prompt in targets
    ]
    outcome = Outcome()
    outcome.counts["generated"] = len(drafts)
    requests = [(d, t) for d in drafts for t in temperatures]

    def ask(request: tuple[PairDraft, float]) -> ChatResult:
        draft, temperature = request
        *head, last = draft.prompt
        turn = {**last, "content": render(text, {"instruction": last["content"]})}
        return client.chat([*head, turn], temperature=temperature, max_tokens=max_tokens)

    answered, empty = 0, set()
    for (draft, temperature), result in run_requests(client, ask, requests, outcome):
        answered += 1
        if result.text.strip():
            draft.samples[temperature] = result.text.strip()
        else:
            empty.add(id(draft))
        if progress:
            progress(0.9 * answered / len(requests), f"{answered} of {len(requests)} samples")
    check_alive(outcome, answered)
    for draft in drafts:
        if id(draft) in empty:
            outcome.counts["dropped_empty_response"] += 1
        elif len(draft.samples) < 2:
            outcome.counts["unanswered"] += 1
        elif same_text(*draft.samples.values()):
            outcome.counts["dropped_identical_samples"] += 1
        else:
            # At random, so that approving without looking favours neither temperature.
            first, second = rng.sample(temperatures, 2)
            draft.sides = (first, second)
            outcome.pairs.append(draft)
    return outcome
