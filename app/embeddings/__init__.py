"""Sentence embeddings shared by the contamination and diversity checks."""
