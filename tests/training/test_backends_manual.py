"""Files for Kubernetes, SLURM and SkyPilot, checked as data; the manual backend's states."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app.training.backends import BackendError, Resources, RunState, get_backend
from app.training.backends.manual import (
    KubernetesOptions,
    SkyPilotOptions,
    SlurmOptions,
    write_manual_files,
)
from tests.training.backend_helpers import stand_in_run_dir

GPUS = Resources(gpus=2, cpus=8, memory_gb=64, gpu_type="A100", time_limit_minutes=90)


def test_kubernetes_job_runs_the_runner_with_the_gpus(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run-42")
    options = KubernetesOptions(image="example/cuda-torch:1", namespace="ml", volume_claim="runs")
    path = write_manual_files("kubernetes", run_dir, GPUS, options)
    assert path == run_dir / "k8s-job.yaml"
    job = yaml.safe_load(path.read_text())
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["name"] == "trellis-train-run-42"
    assert job["metadata"]["namespace"] == "ml"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 90 * 60
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "A100"}
    (container,) = pod["containers"]
    assert container["image"] == "example/cuda-torch:1"
    assert container["command"][:2] == ["bash", "-c"]
    launch = "exec python -m accelerate.commands.launch --config_file accelerate.yaml"
    launch += " --num_processes 2 -m app.training.runner /trellis/run"
    assert launch in container["command"][2]
    # Two GPUs: the launch files, the DeepSpeed one named relative to the working directory.
    accelerate = yaml.safe_load((run_dir / "accelerate.yaml").read_text())
    assert accelerate["num_processes"] == 2
    assert json.dumps(accelerate).count("deepspeed.json") >= 1
    assert str(run_dir) not in (run_dir / "accelerate.yaml").read_text()
    assert (run_dir / "deepspeed.json").is_file()
    assert container["resources"]["limits"] == {
        "cpu": "8",
        "nvidia.com/gpu": 2,
        "memory": f"{64 * 1024}Mi",
    }
    assert {"name": "PYTHONPATH", "value": "/trellis/run/runner_src"} in container["env"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "run")
    assert mount == {"name": "run", "mountPath": "/trellis/run", "subPath": "run-42"}
    assert {"name": "run", "persistentVolumeClaim": {"claimName": "runs"}} in pod["volumes"]


def test_kubernetes_cpu_only_asks_for_no_gpu(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "Run_7")
    path = write_manual_files("kubernetes", run_dir, Resources(cpus=0.5), KubernetesOptions())
    job = yaml.safe_load(path.read_text())
    pod = job["spec"]["template"]["spec"]
    limits = pod["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "500m"}
    assert "exec python -m app.training.runner /trellis/run\n" in pod["containers"][0]["command"][2]
    assert not (run_dir / "accelerate.yaml").exists()
    assert "nodeSelector" not in pod
    assert job["metadata"]["name"] == "trellis-train-run-7"


def test_sbatch_script_is_valid_bash_and_runs_the_runner(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run")
    options = SlurmOptions(partition="gpu", account="ml", setup=["export FROM_SETUP=1"])
    path = write_manual_files("slurm", run_dir, GPUS, options)
    text = path.read_text()
    subprocess.run(["bash", "-n", str(path)], check=True)
    directives = [line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("#SBATCH")]
    expected = ["--gres=gpu:A100:2", "--cpus-per-task=8", f"--mem={64 * 1024}M", "--time=90"]
    expected += ["--partition=gpu", "--account=ml", "--output=runner.log"]
    assert set(expected) <= set(directives)
    # Run it as SLURM would, with an `srun` that records what it was asked to run.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "srun.json"
    srun = bin_dir / "srun"
    srun.write_text(
        "#!/bin/bash\n"
        f'{shlex.quote(sys.executable)} -c "import json,os,sys; json.dump('
        "{'argv': sys.argv[1:], 'pythonpath': os.environ['PYTHONPATH'],"
        " 'setup': os.environ.get('FROM_SETUP'), 'cwd': os.getcwd()},"
        f' open({str(record)!r}, \'w\'))" "$@"\n'
    )
    srun.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_SUBMIT_DIR": str(run_dir),
    }
    subprocess.run(["bash", str(path)], check=True, env=env, cwd=tmp_path)
    seen = json.loads(record.read_text())
    assert seen["argv"] == [
        "python", "-m", "accelerate.commands.launch", "--config_file", "accelerate.yaml",
        "--num_processes", "2", "-m", "app.training.runner", str(run_dir),
    ]  # fmt: skip
    assert seen["pythonpath"].split(":")[0] == str(run_dir / "runner_src")
    assert seen["setup"] == "1"
    assert seen["cwd"] == str(run_dir)


def test_sbatch_without_gpus_has_no_gres(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run")
    path = write_manual_files("slurm", run_dir, Resources(cpus=2), SlurmOptions())
    text = path.read_text()
    subprocess.run(["bash", "-n", str(path)], check=True)
    assert "--gres" not in text
    assert "#SBATCH --cpus-per-task=2" in text
    assert 'srun python -m app.training.runner "$RUN_DIR"' in text


def test_skypilot_task_asks_for_the_accelerators(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run")
    path = write_manual_files("skypilot", run_dir, GPUS, SkyPilotOptions(infra="aws"))
    task = yaml.safe_load(path.read_text())
    assert task["workdir"] == str(run_dir)
    assert task["resources"] == {
        "cpus": "8+",
        "accelerators": "A100:2",
        "memory": "64+",
        "infra": "aws",
    }
    assert "accelerate.commands.launch --config_file accelerate.yaml" in task["run"]
    assert "--num_processes 2 -m app.training.runner ." in task["run"]
    assert "runner_src" in task["run"]
    assert "pip install" in task["setup"]
    subprocess.run(["bash", "-n", "-c", task["setup"] + task["run"]], check=True)
    any_gpu = write_manual_files("skypilot", run_dir, Resources(gpus=1), SkyPilotOptions())
    one_gpu = yaml.safe_load(any_gpu.read_text())
    assert "python -m app.training.runner . 2>&1" in one_gpu["run"]
    accelerators = one_gpu["resources"]["accelerators"]
    assert isinstance(accelerators, dict)
    assert set(accelerators.values()) == {1}


def test_the_staged_runner_package_imports_without_trellis(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run")
    write_manual_files("slurm", run_dir, Resources(), SlurmOptions())
    staged = run_dir / "runner_src"
    assert (staged / "app" / "training" / "backends" / "wrapper.py").is_file()
    assert not list(staged.rglob("__pycache__"))
    check = (
        "import sys, app.training.backends.wrapper, app.training.backends.local,"
        " app.training.backends.manual;"
        "assert app.__file__.startswith(sys.argv[1]), app.__file__;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('sqlalchemy', 'fastapi', 'celery', 'starlette'));"
        "assert not bad, bad"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(staged)
    subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(staged)!r}); {check}",
         str(staged)],
        check=True, env=env, cwd=tmp_path,
    )  # fmt: skip


def test_manual_backend_states(tmp_path: Path) -> None:
    run_dir = stand_in_run_dir(tmp_path / "run")
    backend = get_backend("slurm")
    handle = backend.submit(run_dir, Resources(gpus=1))
    assert (run_dir / "train.sbatch").is_file()
    status = backend.status(handle)
    assert status.state is RunState.MANUAL
    assert "sbatch train.sbatch" in status.detail
    assert backend.logs(handle) == ""
    with pytest.raises(BackendError, match="cancel it where"):
        backend.cancel(handle)
    # The cluster wrote into the run directory on shared storage: its result is picked up.
    (run_dir / "runner.log").write_text("line 1\nline 2\n")
    (run_dir / "summary.json").write_text(json.dumps({"state": "succeeded"}))
    assert backend.status(handle).state is RunState.SUCCEEDED
    assert backend.logs(handle, tail=1) == "line 2"
    with pytest.raises(BackendError):
        get_backend("kubernetes").status(handle)  # a slurm handle
    with pytest.raises(BackendError, match="unknown training backend"):
        get_backend("nomad")
