"""What every scorer returns: a score in [0, 1] for one item and the details behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ItemScore:
    """One item's score (1.0 right, 0.0 wrong; judges may give 0.5 for a tie)."""

    score: float
    extracted: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.score >= 1.0
