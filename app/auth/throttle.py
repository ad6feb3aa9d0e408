"""Sign-in throttling, per account and per client address.

Failures are counted under `account:<email>` (whether or not the account exists, so a throttled
answer reveals nothing) and `address:<client ip>`. Within `login_window_s`, once a key reaches its
limit every further failure blocks it for `login_lockout_s`, doubling each time up to
`login_lockout_max_s`. While blocked, sign-in is refused before the password is checked (a right
password too), with how long to wait. Never commits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.auth import repository
from app.config import Settings

MAX_EMAIL = 320


@dataclass(frozen=True, slots=True)
class Keys:
    account: str
    address: str

    @classmethod
    def of(cls, email: str, address: str | None) -> Keys:
        return cls(
            account=f"account:{email.strip().lower()[:MAX_EMAIL]}",
            address=f"address:{(address or 'unknown')[:64]}",
        )


def wait_s(db: Session, keys: Keys, now: datetime) -> int:
    """Seconds until either key may try again (0: it may now)."""
    wait = 0.0
    for row in repository.throttles(db, [keys.account, keys.address]):
        if row.blocked_until is not None and row.blocked_until > now:
            wait = max(wait, (row.blocked_until - now).total_seconds())
    return math.ceil(wait)


def lockout_s(settings: Settings, failures: int, limit: int) -> int:
    """How long the `failures`-th failure blocks a key whose limit is `limit` (0: not at all)."""
    if failures < limit:
        return 0
    doublings = min(failures - limit, 30)
    return min(settings.login_lockout_s << doublings, settings.login_lockout_max_s)


def failed(db: Session, settings: Settings, keys: Keys, now: datetime) -> int:
    """Count a failed sign-in under both keys; returns the wait it caused (0: none yet)."""
    window = timedelta(seconds=settings.login_window_s)
    repository.prune_throttles(db, now - window, now)
    wait = 0
    limits = (
        (keys.account, settings.login_max_failures_account),
        (keys.address, settings.login_max_failures_address),
    )
    for key, limit in limits:
        row = repository.locked_throttle(db, key, now)
        if now - row.window_started_at > window:
            row.failures, row.window_started_at, row.blocked_until = 0, now, None
        row.failures += 1
        block = lockout_s(settings, row.failures, limit)
        if block:
            row.blocked_until = now + timedelta(seconds=block)
            wait = max(wait, block)
    return wait


def succeeded(db: Session, keys: Keys) -> None:
    """A right password clears the account's count (not the address's: an attacker with one
    account of their own must not reset the count of an address they guess from)."""
    repository.forget_throttle(db, keys.account)
