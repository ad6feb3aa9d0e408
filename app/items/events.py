"""The "content changed" announcement: an edit says it once, the checks that care subscribe.

A small in-process registry. Contamination and diversity register when their service module is
imported (the app and the workers import every domain), so item services never import checks.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.models import ItemKind, Project, User

ContentSubscriber = Callable[[Session, Project, User, ItemKind, int], None]

_subscribers: dict[str, ContentSubscriber] = {}


def on_content_changed(subscriber: ContentSubscriber) -> ContentSubscriber:
    """Register `subscriber`, keyed by its qualified name so a re-import does not double it."""
    key = f"{subscriber.__module__}.{getattr(subscriber, '__qualname__', repr(subscriber))}"
    _subscribers[key] = subscriber
    return subscriber


def content_changed(
    db: Session, project: Project, user: User, kind: ItemKind, item_id: int
) -> None:
    """Announce that the item's content changed, inside the caller's transaction."""
    for subscriber in list(_subscribers.values()):
        subscriber(db, project, user, kind, item_id)
