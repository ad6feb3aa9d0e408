"""``metrics.jsonl``: one JSON object per line, flushed per line, written while training runs.

Every line carries every key of :data:`FIELDS` (``null`` where it does not apply), so a reader
(the worker that ingests the file while the run goes on) never has to guess. ``event`` is
``start``, ``train``, ``eval`` or ``end``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any, TextIO

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

FIELDS = (
    "event",
    "step",
    "epoch",
    "loss",
    "learning_rate",
    "grad_norm",
    "eval_loss",
    "tokens_per_s",
    "peak_memory_mb",
    "time",
)

log = logging.getLogger("trellis.runner")


def peak_memory_mb() -> float | None:
    """Peak GPU memory allocated by this process in MiB, or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class MetricsWriter:
    """Appends metric lines to ``metrics.jsonl`` and keeps what the summary needs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO = path.open("a", encoding="utf-8")
        self.train_losses: list[float] = []
        self.eval_losses: list[float] = []
        self.tokens_per_s: list[float] = []
        self.last_eval_step: int | None = None

    def write(self, event: str, **values: Any) -> dict[str, Any]:
        record: dict[str, Any] = dict.fromkeys(FIELDS)
        record.update({k: v for k, v in values.items() if k in FIELDS})
        record["event"] = event
        record["time"] = round(time.time(), 3)
        if record["peak_memory_mb"] is None:
            record["peak_memory_mb"] = peak_memory_mb()
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()
        if event == "train" and record["loss"] is not None:
            self.train_losses.append(record["loss"])
        if event == "eval" and record["eval_loss"] is not None:
            self.eval_losses.append(record["eval_loss"])
            self.last_eval_step = record["step"]
        if record["tokens_per_s"] is not None:
            self.tokens_per_s.append(record["tokens_per_s"])
        return record

    def close(self) -> None:
        self._handle.close()


class MetricsCallback(TrainerCallback):
    """Turns the trainer's log calls into ``train`` and ``eval`` lines.

    Tokens per second come from the trainer's own cumulative ``num_tokens`` (non-padding tokens,
    counted by TRL's SFT and DPO trainers) between two log calls: no extra work per step.
    """

    def __init__(self, writer: MetricsWriter) -> None:
        self.writer = writer
        self._last_tokens: float | None = None
        self._last_time: float | None = None

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        self._last_time = time.perf_counter()
        self._last_tokens = 0.0

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        logs = logs or {}
        common = {"step": state.global_step, "epoch": _number(state.epoch)}
        if "eval_loss" in logs:
            self.writer.write("eval", eval_loss=_number(logs["eval_loss"]), **common)
            log.info("step %d eval_loss %.4f", state.global_step, logs["eval_loss"])
        if "loss" not in logs:
            return
        now = time.perf_counter()
        tokens = _number(logs.get("num_tokens"))
        rate = None
        if tokens is not None and self._last_tokens is not None and self._last_time is not None:
            elapsed = now - self._last_time
            if elapsed > 0 and tokens > self._last_tokens:
                rate = round((tokens - self._last_tokens) / elapsed, 1)
            self._last_tokens = tokens
        self._last_time = now
        record = self.writer.write(
            "train",
            loss=_number(logs["loss"]),
            learning_rate=_number(logs.get("learning_rate")),
            grad_norm=_number(logs.get("grad_norm")),
            tokens_per_s=rate,
            **common,
        )
        log.info(
            "step %d loss %s lr %s grad_norm %s tokens/s %s",
            state.global_step,
            record["loss"],
            record["learning_rate"],
            record["grad_norm"],
            rate,
        )
