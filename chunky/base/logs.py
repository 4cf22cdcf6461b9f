"""Where log lines go: Chunky's own to the console (how many depends on the verbosity), everything (NeMo's,
Lightning's, Python warnings, Chunky's) to a log file under ``model_cache/logs``.

NeMo gives its logger ("nemo_logger") console handlers of its own when it is imported and turns Python
warnings into its log lines. :func:`setup_logging` puts a filter on that logger first, before NeMo is
imported: each of its records goes to the log file, and to NeMo's own console handlers only when verbose.
Standard library only (NeMo is never imported here).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_FILE = "chunky.log"
NEMO_LOGGER = "nemo_logger"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MAX_BYTES = 2 << 20
_BACKUPS = 3


class _OnlyChunky(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "chunky" or record.name.startswith("chunky.")


class _NemoToFile(logging.Filter):
    """On NeMo's logger: hands every record to the log file; lets it reach NeMo's handlers (the console)
    only when ``verbose``."""

    def __init__(self, file_handler: logging.Handler | None, verbose: bool):
        super().__init__()
        self.file_handler = file_handler
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if self.file_handler is not None and record.levelno >= self.file_handler.level:
            self.file_handler.handle(record)
        return self.verbose


def setup_logging(log_dir: Path | None, *, console_level: int = logging.WARNING, verbose: bool = False,
                  console_format: str = "%(levelname)s %(name)s: %(message)s") -> Path | None:
    """Configure the process's logging once, at the entry point; returns the log file (None without one).

    ``console_level``: the lowest level of Chunky's own lines shown on the console. ``verbose``: every
    logger's lines (NeMo, Lightning, warnings) also reach the console, from DEBUG on for Chunky's.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_chunky", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else console_level)
    console.setFormatter(logging.Formatter(console_format, datefmt="%H:%M:%S"))
    if not verbose:
        console.addFilter(_OnlyChunky())
    console._chunky = True  # type: ignore[attr-defined]
    root.addHandler(console)
    file_handler: logging.Handler | None = None
    path = None
    if log_dir is not None:
        try:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            path = Path(log_dir) / LOG_FILE
            file_handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8", delay=True)
        except OSError as exc:  # a read-only folder: log to the console only
            logging.getLogger(__name__).warning("Cannot write the log file in %s: %s", log_dir, exc)
            path = file_handler = None
    if file_handler is not None:
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        file_handler._chunky = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    logging.captureWarnings(True)
    nemo = logging.getLogger(NEMO_LOGGER)
    for old in [f for f in nemo.filters if isinstance(f, _NemoToFile)]:
        nemo.removeFilter(old)
    nemo.addFilter(_NemoToFile(file_handler, verbose))
    for noisy in ("httpx", "httpcore", "urllib3", "uvicorn.access", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
