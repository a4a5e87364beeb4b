"""The app's error hooks: an uncaught error in a slot, an async slot, an event-loop callback
or a thread is logged with its traceback and shown in a dialog that names the log file."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QPushButton
from qasync import asyncSlot

from tests.gui_helpers import async_loop  # noqa: F401 - fixture
from twt_backend import secrets
from twt_backend.log_setup import configure_logging

# pytest-qt would take uncaught errors in Qt callbacks for itself: the hooks under test must.
pytestmark = [pytest.mark.gui, pytest.mark.qt_no_exception_capture]
KEY = "sk-guierror-0123456789abcdefXYZ"


@pytest.fixture
def reporter(qapp, tmp_path, monkeypatch):
    from twt_gui.errors import install_error_reporting

    monkeypatch.setenv("TWT_LOG_DIR", str(tmp_path / "logs"))
    reporter = install_error_reporting()
    yield reporter
    reporter.uninstall()
    if reporter.dialog is not None:
        reporter.dialog.done(0)
    configure_logging("cli")  # closes the log file


def shown(reporter) -> bool:
    return reporter.dialog is not None and reporter.dialog.isVisible()


def log_text(reporter) -> str:
    import logging

    for handler in logging.getLogger().handlers:
        handler.flush()
    return reporter.log_path.read_text(encoding="utf-8")


def test_error_in_a_slot_is_logged_and_shown_with_the_log_path(reporter, qtbot, tmp_path):
    secrets.remember(KEY)
    button = QPushButton("go")
    qtbot.addWidget(button)

    def start_labelling() -> None:
        raise RuntimeError(f"the labelling could not start (key {KEY})")

    button.clicked.connect(start_labelling)
    button.click()
    qtbot.waitUntil(lambda: shown(reporter))
    dialog = reporter.dialog
    assert "RuntimeError: the labelling could not start" in dialog.text()
    assert str(tmp_path / "logs" / "twt-studio.log") in dialog.informativeText()
    assert "in start_labelling" in dialog.detailedText()
    text = log_text(reporter)
    assert "ERROR twt_gui.errors: Unhandled error" in text and "in start_labelling" in text
    for where in (dialog.text(), dialog.detailedText(), text):
        assert KEY not in where and secrets.REDACTED in where


def test_errors_of_async_slots_and_loop_callbacks(reporter, qtbot, async_loop):  # noqa: F811
    from PySide6.QtCore import QObject

    reporter.watch(async_loop)

    class Page(QObject):
        @asyncSlot()
        async def refresh(self) -> None:
            raise ValueError("the store went away")

    page = Page()
    page.refresh()
    qtbot.waitUntil(lambda: shown(reporter))
    assert "ValueError: the store went away" in reporter.dialog.text()
    assert "in refresh" in reporter.dialog.detailedText()

    def tick() -> None:
        raise KeyError("stale row")

    async_loop.call_soon(tick)  # a plain loop callback: the loop's exception handler
    qtbot.waitUntil(lambda: reporter.unseen == 1)  # one dialog at a time, the rest counted
    assert "1 more error(s)" in reporter.dialog.informativeText()
    text = log_text(reporter)
    assert "KeyError: 'stale row'" in text and "in tick" in text


def test_error_in_a_thread_reaches_the_dialog(reporter, qtbot):
    def work() -> None:
        raise OSError("disk full")

    thread = threading.Thread(target=work, name="export-worker")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: shown(reporter))
    assert "OSError: disk full" in reporter.dialog.text()
    assert "Unhandled error in thread export-worker" in log_text(reporter)
