"""The training runner: ``python -m app.training.runner RUN_DIR``.

Self-contained: it imports nothing of Trellis outside this package (no database, no web app),
so a GPU host needs only torch, transformers, TRL, PEFT, accelerate, datasets and, for QLoRA,
bitsandbytes. The run-directory contract is documented in ``docs/training.md``.
"""
