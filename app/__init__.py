"""Trellis: curate the data LLM fine-tuning runs on."""

__version__ = "0.1.0"
