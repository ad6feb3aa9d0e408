"""Evaluation runs: gate policy and set settings, runs of a model under test with their gate
report and verdict, per-item results (pages, JSON API, the evaluation_run job)."""
