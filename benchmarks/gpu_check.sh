#!/usr/bin/env bash
# QLoRA NF4 SFT on a random ~1.1B Llama through the real runner, 50 steps, on one CUDA GPU:
# prints steps/s, tokens/s and peak GPU memory beside the memory estimate. Run by hand where a
# GPU is, from the repository root; nothing is downloaded (model and tokenizer are built here).
#
#   benchmarks/gpu_check.sh [--steps 50] [--sequence-len 2048] [--micro-batch 2]
#
# PYTHON picks the interpreter (default: .venv/bin/python if present, else python3). It needs
# torch with CUDA, transformers, trl, peft, accelerate, datasets and bitsandbytes
# (pip install -e '.[train]'); Trellis' web stack is not needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
"$PYTHON" - <<'PY' || exit 2
import importlib.util, sys
missing = [m for m in ("torch", "transformers", "trl", "peft", "accelerate", "datasets",
                       "bitsandbytes", "tokenizers") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_check: missing Python packages: {', '.join(missing)} (pip install -e '.[train]')")
import torch
if not torch.cuda.is_available():
    sys.exit(f"gpu_check: torch {torch.__version__} sees no CUDA device; this check needs a GPU")
PY
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-8}" PYTHONUNBUFFERED=1
exec "$PYTHON" benchmarks/gpu_check.py "$@"
