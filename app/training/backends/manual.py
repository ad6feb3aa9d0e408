"""Files for clusters Trellis does not drive: a Kubernetes Job, a SLURM batch script, a SkyPilot
task. Each runs the same entry point, `python -m app.training.runner RUN_DIR`, from a copy of
the runner package staged into RUN_DIR/runner_src, so the run directory is self-contained: copy
it to the cluster's storage, submit the file, and the results land back in it.

`ManualBackend` puts these behind the common interface: `submit` writes the file and returns a
handle; the state is `manual` until a summary.json appears in the run directory (when the
cluster writes to storage this host also sees), after which it is the runner's final state.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from app.training.backends.base import (
    LOG_FILE,
    BackendError,
    BackendStatus,
    Resources,
    RunState,
    decode_handle,
    encode_handle,
    read_summary,
    status_from_summary,
    tail_lines,
)
from app.training.backends.launch import runner_command
from app.training.backends.package import stage_runner_package

RUN_DIR_MARK = "__TRELLIS_RUN_DIR__"
# The runner's libraries (the `train` extra), installed where the image or environment lacks them.
RUNNER_REQUIREMENTS = (
    "transformers>=5.0", "trl>=1.0", "peft>=0.17", "accelerate>=1.10", "bitsandbytes>=0.45",
    "galore-torch>=1.0",
)  # fmt: skip
SOURCE_DIR = "runner_src"
KUBERNETES_FILE = "k8s-job.yaml"
SLURM_FILE = "train.sbatch"
SKYPILOT_FILE = "skypilot-task.yaml"
ManualKind = Literal["kubernetes", "slurm", "skypilot"]
FILES: dict[str, str] = {
    "kubernetes": KUBERNETES_FILE,
    "slurm": SLURM_FILE,
    "skypilot": SKYPILOT_FILE,
}
SUBMIT_HINTS: dict[str, str] = {
    "kubernetes": "copy the run directory onto the volume, then `kubectl apply -f {file}`",
    "slurm": "copy the run directory to the cluster's shared filesystem, then `sbatch {file}`",
    "skypilot": "`sky launch -c trellis {file}` (or `sky jobs launch {file}`)",
}
DEFAULT_GPU_CHOICES = ("L4", "A10G", "A100", "H100")


def _slug(run_dir: Path) -> str:
    """A DNS-1123 label from the run directory's name (Kubernetes object names)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", run_dir.name.lower()).strip("-")
    return (slug or "run")[:40].strip("-")


def _install_if_missing() -> str:
    requirements = " ".join(shlex.quote(r) for r in RUNNER_REQUIREMENTS)
    return (
        'python -c "import trl, peft, transformers" 2>/dev/null'
        f" || pip install --no-cache-dir {requirements}"
    )


@dataclass(frozen=True)
class KubernetesOptions:
    image: str = "pytorch/pytorch:latest"  # any image with CUDA PyTorch; the rest is installed
    namespace: str = "default"
    volume_claim: str = "trellis-runs"  # a PVC holding run directories
    volume_sub_path: str | None = None  # the run dir's path inside the claim; default its name
    ttl_seconds_after_finished: int = 7 * 24 * 3600

    @classmethod
    def from_env(cls) -> KubernetesOptions:
        env = os.environ
        return cls(
            image=env.get("TRELLIS_K8S_IMAGE", cls.image),
            namespace=env.get("TRELLIS_K8S_NAMESPACE", cls.namespace),
            volume_claim=env.get("TRELLIS_K8S_VOLUME_CLAIM", cls.volume_claim),
        )


def kubernetes_job(
    run_dir: Path, resources: Resources, options: KubernetesOptions
) -> dict[str, Any]:
    mount = "/trellis/run"
    name = f"trellis-train-{_slug(run_dir)}"
    labels = {"app.kubernetes.io/name": "trellis-training", "trellis.dev/run": _slug(run_dir)}
    limits: dict[str, str | int] = {"cpu": _cpus(resources.cpus)}
    requests: dict[str, str | int] = {"cpu": _cpus(resources.cpus)}
    if resources.gpus:
        limits["nvidia.com/gpu"] = resources.gpus
    if resources.memory_gb is not None:
        limits["memory"] = requests["memory"] = f"{int(resources.memory_gb * 1024)}Mi"
    sub_path = options.volume_sub_path or run_dir.name
    runner = runner_command(run_dir, mount, resources.gpus, python="python", relative=True)
    script = f"{_install_if_missing()}\nexec {shlex.join(runner)}\n"
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 60,
        "containers": [
            {
                "name": "runner",
                "image": options.image,
                "workingDir": mount,
                "command": ["bash", "-c", script],
                "env": [
                    {"name": "PYTHONPATH", "value": f"{mount}/{SOURCE_DIR}"},
                    {"name": "PYTHONUNBUFFERED", "value": "1"},
                ],
                "resources": {"limits": limits, "requests": requests},
                "volumeMounts": [
                    {"name": "run", "mountPath": mount, "subPath": sub_path},
                    {"name": "dshm", "mountPath": "/dev/shm"},  # noqa: S108 - shared memory
                ],
            }
        ],
        "volumes": [
            {"name": "run", "persistentVolumeClaim": {"claimName": options.volume_claim}},
            {"name": "dshm", "emptyDir": {"medium": "Memory"}},
        ],
    }
    if resources.gpu_type:
        pod["nodeSelector"] = {"nvidia.com/gpu.product": resources.gpu_type}
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": options.ttl_seconds_after_finished,
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if resources.time_limit_minutes:
        spec["activeDeadlineSeconds"] = resources.time_limit_minutes * 60
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": options.namespace, "labels": labels},
        "spec": spec,
    }


def _cpus(cpus: float) -> str:
    return str(int(cpus)) if float(cpus).is_integer() else f"{int(cpus * 1000)}m"


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    account: str | None = None
    python: str = "python"  # the interpreter of an environment with the runner's libraries
    setup: list[str] = field(default_factory=list)  # e.g. ["module load cuda/12.4"]

    @classmethod
    def from_env(cls) -> SlurmOptions:
        env = os.environ
        setup = [line for line in env.get("TRELLIS_SLURM_SETUP", "").split(";") if line.strip()]
        return cls(
            partition=env.get("TRELLIS_SLURM_PARTITION") or None,
            account=env.get("TRELLIS_SLURM_ACCOUNT") or None,
            python=env.get("TRELLIS_SLURM_PYTHON", "python"),
            setup=setup,
        )


def slurm_script(run_dir: Path, resources: Resources, options: SlurmOptions) -> str:
    """An sbatch script; RUN_DIR is the directory the script sits in (copy the whole dir)."""
    directives = [
        f"--job-name=trellis-{_slug(run_dir)}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={max(1, round(resources.cpus))}",
        f"--output={LOG_FILE}",
        "--open-mode=append",
        "--signal=TERM@120",
    ]
    if resources.gpus:
        kind = f"{resources.gpu_type}:" if resources.gpu_type else ""
        directives.append(f"--gres=gpu:{kind}{resources.gpus}")
    if resources.memory_gb is not None:
        directives.append(f"--mem={int(resources.memory_gb * 1024)}M")
    if resources.time_limit_minutes:
        directives.append(f"--time={resources.time_limit_minutes}")
    if options.partition:
        directives.append(f"--partition={options.partition}")
    if options.account:
        directives.append(f"--account={options.account}")
    runner = runner_command(
        run_dir, RUN_DIR_MARK, resources.gpus, python=options.python, relative=True
    )
    lines = ["#!/bin/bash", *(f"#SBATCH {d}" for d in directives), ""]
    lines += [
        "# Trellis training run: submit from the run directory with `sbatch train.sbatch`.",
        "set -euo pipefail",
        'RUN_DIR="${SLURM_SUBMIT_DIR:-$(pwd)}"',
        'cd "$RUN_DIR"',
        *options.setup,
        f'export PYTHONPATH="$RUN_DIR/{SOURCE_DIR}${{PYTHONPATH:+:$PYTHONPATH}}"',
        "export PYTHONUNBUFFERED=1",
        "srun " + shlex.join(runner).replace(RUN_DIR_MARK, '"$RUN_DIR"'),
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class SkyPilotOptions:
    infra: str | None = None  # e.g. "aws", "gcp/us-central1", "k8s"; None lets SkyPilot choose
    use_spot: bool = False

    @classmethod
    def from_env(cls) -> SkyPilotOptions:
        return cls(infra=os.environ.get("TRELLIS_SKYPILOT_INFRA") or None)


def skypilot_task(run_dir: Path, resources: Resources, options: SkyPilotOptions) -> dict[str, Any]:
    runner = runner_command(run_dir, ".", resources.gpus, python="python", relative=True)
    task_resources: dict[str, Any] = {"cpus": f"{_cpus(resources.cpus)}+"}
    if resources.gpus:
        if resources.gpu_type:
            task_resources["accelerators"] = f"{resources.gpu_type}:{resources.gpus}"
        else:  # any of these, SkyPilot picks the cheapest available
            task_resources["accelerators"] = dict.fromkeys(DEFAULT_GPU_CHOICES, resources.gpus)
    if resources.memory_gb is not None:
        task_resources["memory"] = f"{resources.memory_gb:g}+"
    if options.infra:
        task_resources["infra"] = options.infra
    if options.use_spot:
        task_resources["use_spot"] = True
    return {
        "name": f"trellis-train-{_slug(run_dir)}",
        "workdir": str(run_dir),  # synced to ~/sky_workdir, where setup and run start
        "resources": task_resources,
        "envs": {"PYTHONPATH": f"~/sky_workdir/{SOURCE_DIR}", "PYTHONUNBUFFERED": "1"},
        "setup": _install_if_missing() + "\n",
        "run": f"export PYTHONPATH=$HOME/sky_workdir/{SOURCE_DIR}\n"
        f"{shlex.join(runner)} 2>&1 | tee -a {LOG_FILE}\n",
    }


def write_manual_files(
    kind: ManualKind,
    run_dir: Path,
    resources: Resources,
    options: KubernetesOptions | SlurmOptions | SkyPilotOptions | None = None,
) -> Path:
    """Stage the runner package into RUN_DIR and write the file for `kind`; return its path."""
    run_dir = run_dir.resolve()
    stage_runner_package(run_dir / SOURCE_DIR)
    path = run_dir / FILES[kind]
    if kind == "kubernetes":
        k8s = options if isinstance(options, KubernetesOptions) else KubernetesOptions.from_env()
        text = yaml.safe_dump(kubernetes_job(run_dir, resources, k8s), sort_keys=False)
    elif kind == "slurm":
        slurm = options if isinstance(options, SlurmOptions) else SlurmOptions.from_env()
        text = slurm_script(run_dir, resources, slurm)
    else:
        sky = options if isinstance(options, SkyPilotOptions) else SkyPilotOptions.from_env()
        text = yaml.safe_dump(skypilot_task(run_dir, resources, sky), sort_keys=False)
    path.write_text(text)
    if kind == "slurm":
        path.chmod(0o755)
    return path


class ManualBackend:
    """Writes the file for a cluster Trellis cannot reach; the user submits it by hand."""

    def __init__(
        self,
        kind: ManualKind,
        options: KubernetesOptions | SlurmOptions | SkyPilotOptions | None = None,
    ) -> None:
        if kind not in FILES:
            raise BackendError(f"unknown manual backend {kind!r}")
        self.name: str = kind
        self.kind: ManualKind = kind
        self.options = options

    def submit(self, run_dir: Path, resources: Resources) -> str:
        if not (run_dir / "config.json").is_file():
            raise BackendError(f"{run_dir} has no config.json")
        path = write_manual_files(self.kind, run_dir, resources, self.options)
        return encode_handle(self.kind, file=str(path), run_dir=str(run_dir.resolve()))

    def _parse(self, handle: str) -> tuple[Path, Path]:
        data = decode_handle(handle, self.kind)
        return Path(data["file"]), Path(data["run_dir"])

    def status(self, handle: str) -> BackendStatus:
        path, run_dir = self._parse(handle)
        summary = read_summary(run_dir)
        if summary is not None:
            return status_from_summary(summary, None)
        hint = SUBMIT_HINTS[self.kind].format(file=path.name)
        return BackendStatus(RunState.MANUAL, f"submit by hand: {hint} ({path})")

    def logs(self, handle: str, tail: int = 200) -> str:
        _path, run_dir = self._parse(handle)
        try:
            return tail_lines((run_dir / LOG_FILE).read_text(errors="replace"), tail)
        except OSError:
            return ""

    def sync(self, handle: str) -> None:
        self._parse(handle)

    def cancel(self, handle: str) -> None:
        path, _run_dir = self._parse(handle)
        raise BackendError(
            f"Trellis does not control this run; cancel it where {path.name} was submitted"
        )
