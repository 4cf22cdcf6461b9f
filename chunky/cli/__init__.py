"""The command line (``python -m chunky``, the ``chunky`` command, ``setup_local_models.py``)."""

import chunky.bootstrap  # noqa: F401, I001  (first: the `chunky` console script enters here)

from chunky.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
