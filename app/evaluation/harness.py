"""General capability through lm-evaluation-harness (``lm-eval``) on local task files.

A multiple-choice task is written as a JSONL file and a task YAML pointing at it (``dataset_path:
json`` with ``data_files``), so nothing is downloaded; the same YAML shape serves MMLU or
HellaSwag exported to files. Base and tune (base + PEFT adapter, applied at run time by lm-eval's
``hf`` model) are scored on the same tasks and the drop is reported in accuracy points.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.evaluation.gates import Capability


@dataclass(frozen=True)
class ChoiceRow:
    question: str
    choices: Sequence[str]
    answer: int  # index into choices


def write_choice_task(directory: Path, name: str, rows: Iterable[ChoiceRow]) -> Path:
    """``directory/name.jsonl`` and ``directory/name.yaml``, an lm-eval multiple-choice task."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / f"{name}.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for row in rows:
            record = {"question": row.question, "choices": list(row.choices), "answer": row.answer}
            handle.write(json.dumps(record) + "\n")
    # JSON is valid YAML: no YAML writer needed, and quoting is exact.
    config = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data.resolve())}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "{{question}}\nAnswer:",
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "{{answer}}",
        "target_delimiter": " ",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    path = directory / f"{name}.yaml"
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class TaskScore:
    task: str
    accuracy: float
    stderr: float | None
    n: int


def run_tasks(
    model_dir: str | Path,
    task_dir: Path,
    tasks: Sequence[str],
    *,
    adapter_dir: str | Path | None = None,
    batch_size: int = 8,
    device: str = "cpu",
) -> dict[str, TaskScore]:
    """Accuracy of the model (with the adapter, if given) on each local task, via lm-eval."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    model_args: dict[str, Any] = {"pretrained": str(model_dir), "dtype": "float32"}
    if adapter_dir is not None:
        model_args["peft"] = str(adapter_dir)
    results = simple_evaluate(
        model="hf",
        model_args=model_args,
        tasks=list(tasks),
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),
        batch_size=batch_size,
        device=device,
        log_samples=False,
    )
    if results is None:  # lm-eval returns None on non-zero ranks only
        raise RuntimeError("lm-eval returned no results")
    return {task: _task_score(task, results) for task in tasks}


def _task_score(task: str, results: Mapping[str, Any]) -> TaskScore:
    metrics = results["results"][task]
    stderr = metrics.get("acc_stderr,none")
    samples = results.get("n-samples", {}).get(task, {})
    return TaskScore(
        task,
        float(metrics["acc,none"]),
        float(stderr) if isinstance(stderr, (int, float)) else None,
        int(samples.get("effective", 0)),
    )


@dataclass(frozen=True)
class CapabilityComparison:
    base: dict[str, TaskScore]
    tune: dict[str, TaskScore]

    def capability(self) -> Capability:
        """Mean accuracy over the tasks, base and tune, for the capability gate."""
        tasks = sorted(self.base)
        base = sum(self.base[t].accuracy for t in tasks) / len(tasks)
        tune = sum(self.tune[t].accuracy for t in tasks) / len(tasks)
        return Capability(base, tune)

    def drops(self) -> dict[str, float]:
        """Per task, base - tune accuracy in points (positive = the tune lost capability)."""
        return {t: (self.base[t].accuracy - self.tune[t].accuracy) * 100 for t in self.base}


def compare_capability(
    model_dir: str | Path,
    adapter_dir: str | Path,
    task_dir: Path,
    tasks: Sequence[str],
    **options: Any,
) -> CapabilityComparison:
    base = run_tasks(model_dir, task_dir, tasks, **options)
    tune = run_tasks(model_dir, task_dir, tasks, adapter_dir=adapter_dir, **options)
    return CapabilityComparison(base, tune)
