"""Scoring transcripts: normalizers and metrics."""
