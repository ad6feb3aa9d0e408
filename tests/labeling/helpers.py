"""Items for labeling tests, made directly (an import would do the same, slower)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.formats import example_hash, pair_hash
from app.models import Example, ItemStatus, PreferencePair, Project, Source


def conversation(question: str, answer: str, system: str = "") -> list[dict[str, Any]]:
    turns = [{"role": "system", "content": system}] if system else []
    return [*turns, {"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def make_examples(
    db: Session,
    project: Project,
    n: int,
    *,
    status: ItemStatus = ItemStatus.draft,
    prefix: str = "Question",
) -> list[Example]:
    examples = []
    for i in range(n):
        messages = conversation(f"{prefix} {i}?", f"Answer {i}.")
        example = Example(
            project_id=project.id,
            source=Source.human,
            status=status,
            messages=messages,
            tags=[],
            content_hash=example_hash(messages, None),
        )
        db.add(example)
        examples.append(example)
    db.flush()
    db.commit()
    return examples


def make_example(db: Session, project: Project, messages: list[dict[str, Any]]) -> Example:
    example = Example(
        project_id=project.id,
        source=Source.human,
        status=ItemStatus.draft,
        messages=messages,
        tags=[],
        content_hash=example_hash(messages, None),
    )
    db.add(example)
    db.commit()
    return example


def make_pairs(db: Session, project: Project, n: int) -> list[PreferencePair]:
    pairs = []
    for i in range(n):
        prompt = [{"role": "user", "content": f"Prompt {i}"}]
        chosen = [{"role": "assistant", "content": f"Good answer {i}"}]
        rejected = [{"role": "assistant", "content": f"Bad answer {i}"}]
        pair = PreferencePair(
            project_id=project.id,
            source=Source.human,
            status=ItemStatus.draft,
            prompt=prompt,
            chosen=chosen,
            rejected=rejected,
            tags=[],
            content_hash=pair_hash(prompt, chosen, rejected),
        )
        db.add(pair)
        pairs.append(pair)
    db.commit()
    return pairs
