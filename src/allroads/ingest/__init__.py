"""Ingest: the import pipeline (files in, customers resolved, every row accounted for)."""
