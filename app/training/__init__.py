"""Training runs: the runner (no DB) and the backends that run it."""
