"""The smoke test: visit every page and save one PNG per page."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

from twt_gui.main_window import MainWindow

SETTLE_S = 0.15


def settle(seconds: float = SETTLE_S) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)


def visit_pages(window: MainWindow, out: Path | None) -> list[Path]:
    """Show each page in turn; save a screenshot of the window per page into `out`."""
    saved = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for number, page in enumerate(window.pages, start=1):
        window.show_page(page.title)
        settle()
        if out is None:
            continue
        path = out / f"{number:02d}-{page.title.lower()}.png"
        if not window.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        saved.append(path)
    return saved
