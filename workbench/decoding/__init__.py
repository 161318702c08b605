"""Decoding beyond plain greedy search: lexicon biasing, rewrite maps and their options."""
