"""What the checks need from a sentence encoder (pure: no model is loaded here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


class TextEncoder(Protocol):
    model_id: str

    def encode(self, texts: Sequence[str]) -> F32: ...
