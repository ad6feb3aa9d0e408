"""Shared layer: the OpenAI-compatible chat client (retries, budget, cancel, concurrency).

Imports no domain; `evaluation` and `synthetic` build on it."""
