"""Canonicalization patterns of our dialects, beside the passes (as xDSL keeps
its own): an op's `get_canonicalization_patterns` imports them from here."""
