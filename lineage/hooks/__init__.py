"""Commit-time checks and their light entry point (``lineage-hook``).

Kept empty so that ``python -m lineage.hooks.main`` imports nothing it does not use.
"""
