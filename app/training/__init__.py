"""Training runs: configs and memory estimates (pure), and the self-contained runner."""
