"""The two kinds of training item and what tells them apart (pure, no DB)."""

from __future__ import annotations

from typing import Any

from app.errors import NotFound
from app.models import Example, ItemKind, PreferencePair

Item = Example | PreferencePair
"""A training item of either kind."""
ItemModel = type[Example] | type[PreferencePair]
"""The ORM class of either kind."""

MODELS: dict[ItemKind, ItemModel] = {ItemKind.example: Example, ItemKind.pair: PreferencePair}
CONTENT: dict[ItemKind, tuple[str, ...]] = {
    ItemKind.example: ("messages",),
    ItemKind.pair: ("prompt", "chosen", "rejected"),
}
"""The fields that make up an item's content (what checks and the content hash look at)."""

_KIND_NAMES = {
    "example": ItemKind.example,
    "examples": ItemKind.example,
    "pair": ItemKind.pair,
    "pairs": ItemKind.pair,
}


def model_for(kind: ItemKind) -> ItemModel:
    return MODELS[kind]


def kind_of(item: Item) -> ItemKind:
    return ItemKind.example if isinstance(item, Example) else ItemKind.pair


def parse_kind(value: str) -> ItemKind:
    """`example(s)` or `pair(s)`, as they appear in URLs."""
    try:
        return _KIND_NAMES[value]
    except KeyError:
        raise NotFound(f"unknown item kind '{value}': use example or pair") from None


def snapshot(item: Item) -> dict[str, Any]:
    """The item's editable state, as revisions store it."""
    content = {field: getattr(item, field) for field in CONTENT[kind_of(item)]}
    return {
        **content,
        "tags": item.tags,
        "rating": item.rating,
        "status": item.status.value,
        "split": item.split,
    }


def content_differs(kind: ItemKind, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether two snapshots of an item hold different content."""
    return any(before.get(field) != after.get(field) for field in CONTENT[kind])
