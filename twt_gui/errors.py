"""Uncaught errors in the desktop app: logged with their traceback and shown in a dialog
that says where the log is, instead of a line on a terminal nobody watches.

Three ways an error escapes: Python code run by Qt (slots, virtual methods: PySide6 hands
those to `sys.excepthook`, as qasync's `asyncSlot` does for its tasks), callbacks and tasks
of the qasync event loop (the loop's exception handler), and other threads
(`threading.excepthook`). Each is logged and then shown on the GUI thread (a queued
signal), one dialog at a time. Keys never reach the dialog or the log (`scrub`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from twt_backend.log_setup import configure_logging
from twt_backend.ops.secrets import scrub

log = logging.getLogger(__name__)
TITLE = "TwT Studio: unexpected error"


class ErrorReporter(QObject):
    """Installs the hooks; `reported(summary, details)` reaches the GUI thread queued."""

    reported = Signal(str, str)

    def __init__(self, log_path: Path | None):
        super().__init__()
        self.log_path = log_path
        self.dialog: QMessageBox | None = None
        self.unseen = 0  # errors that arrived while the dialog was open
        self._saved: tuple[Any, Any] | None = None
        self.reported.connect(self._show, Qt.ConnectionType.QueuedConnection)

    # ---- hooks ----------------------------------------------------------------------------
    def install(self) -> ErrorReporter:
        self._saved = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook
        return self

    def uninstall(self) -> None:
        if self._saved is not None:
            sys.excepthook, threading.excepthook = self._saved
            self._saved = None

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(self.loop_exception_handler)

    def excepthook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        self.report("Unhandled error", exc)

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread else "?"
        self.report(f"Unhandled error in thread {name}", args.exc_value)

    def loop_exception_handler(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        message = str(context.get("message") or "Unhandled error in the event loop")
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            self.report(message, exc)
        else:
            log.error("%s", message)
            self.reported.emit(scrub(message), "")

    # ---- reporting ------------------------------------------------------------------------
    def report(self, where: str, exc: BaseException) -> None:
        """Log `exc` with its traceback and show it (from any thread)."""
        log.error("%s", where, exc_info=(type(exc), exc, exc.__traceback__))
        details = scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        self.reported.emit(scrub(f"{type(exc).__name__}: {exc}"), details)

    def _where_logged(self) -> str:
        if self.log_path is None:
            return "The traceback was printed on the terminal that started the app."
        return f"The full traceback is in the log: {self.log_path}"

    def _show(self, summary: str, details: str) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.unseen += 1
            self.dialog.setInformativeText(
                f"{self._where_logged()}\n\n{self.unseen} more error(s) since; see the log."
            )
            return
        self.unseen = 0
        dialog = QMessageBox(QApplication.activeWindow())
        dialog.setIcon(QMessageBox.Icon.Critical)
        dialog.setWindowTitle(TITLE)
        dialog.setText(
            f"Something went wrong: {summary}\n\nThe app keeps running, but the last action "
            "may not have finished."
        )
        dialog.setInformativeText(self._where_logged())
        if details:
            dialog.setDetailedText(details)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        dialog.open()  # window-modal, never a nested event loop inside a hook
        self.dialog = dialog


def install_error_reporting() -> ErrorReporter:
    """Configure the app's logging (a file under the user's log folder) and install the
    error hooks; call `watch(loop)` once the qasync loop exists."""
    return ErrorReporter(configure_logging("app")).install()
