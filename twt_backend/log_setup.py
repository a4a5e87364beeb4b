"""Logging, configured in one place for every entry point: the `twt` command, the desktop
app and the job workers (CLI job runner, training ranks, inference shards).

* ``cli``: warnings and errors on stderr, one line each; the terminal stays for progress.
* ``worker``: info and up on stderr, which a worker's starter sends to its log file.
* ``app``: info and up into a rotating file under the user's log folder (its path is
  returned, for error messages), warnings also on stderr.

``debug`` (or ``TWT_DEBUG=1``) lowers TwT Studio's own loggers to DEBUG. Every record
passes :func:`twt_backend.secrets.scrub`, tracebacks included, so keys never reach a log.
Calling it again replaces what an earlier call installed (tests run several entry points
in one process).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import TextIO

from twt_backend.secrets import scrub

ROLES = ("cli", "worker", "app")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
OWN_LOGGERS = ("twt_backend", "twt_gui")
APP_LOG_NAME = "twt-studio.log"
_MARK = "_twt_handler"
_TRUE = {"1", "on", "yes", "true"}


def debug_from_env() -> bool:
    return os.environ.get("TWT_DEBUG", "").strip().lower() in _TRUE


class ScrubSecrets(logging.Filter):
    """Replace known keys (and key-shaped text) in the message and the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.exc_info = None  # formatted (and scrubbed) above
        return True


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes (tests replace it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def app_log_path() -> Path:
    """The desktop app's log file; `TWT_LOG_DIR` moves it."""
    folder = os.environ.get("TWT_LOG_DIR")
    if folder:
        return Path(folder) / APP_LOG_NAME
    import platformdirs

    return Path(platformdirs.user_log_path("twt-studio")) / APP_LOG_NAME


def configure_logging(
    role: str = "cli", *, debug: bool | None = None, stream: TextIO | None = None
) -> Path | None:
    """Configure the root logger for `role`; returns the log file (the app's), else None."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {ROLES}")
    debug = debug_from_env() if debug is None else debug
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    console_level = logging.WARNING if role in ("cli", "app") else logging.INFO
    console = logging.StreamHandler(stream) if stream else _Stderr()
    console.setLevel(logging.DEBUG if debug else console_level)
    handlers: list[logging.Handler] = [console]
    log_file = None
    if role == "app":
        log_file = app_log_path()
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        file_handler.setLevel(logging.DEBUG if debug else logging.INFO)
        handlers.append(file_handler)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(ScrubSecrets())
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)  # the handlers filter by level
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.NOTSET)
    return log_file
