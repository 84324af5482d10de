"""The ``errand`` command line: one module per group of subcommands, helpers in `common`."""

from errand.cli.main import app, main

__all__ = ["app", "main"]
