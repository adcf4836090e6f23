"""The command line: parses, calls one library function, prints. Nothing else."""

from lineage.cli.app import app, main

__all__ = ["app", "main"]
