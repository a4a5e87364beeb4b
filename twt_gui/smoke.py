"""The smoke test: visit every page and save one PNG per page (plus `screen.png`, a grab of
the display server's screen, on a real platform such as xcb)."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

from twt_gui.main_window import MainWindow

SETTLE_S = 0.15
HEADLESS = ("offscreen", "minimal")  # platforms with no real screen to grab


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
    if out is not None and QApplication.platformName() not in HEADLESS:
        saved.append(grab_screen(window, out / "screen.png"))
    return saved


def grab_screen(window: MainWindow, path: Path) -> Path:
    """What the display server shows on the window's screen (not a render of the widget):
    the proof that the window really reached the screen on a real platform such as xcb."""
    window.raise_()
    settle()
    pixmap = window.screen().grabWindow(0)
    if not pixmap.save(str(path)):
        raise OSError(f"could not write {path}")
    return path
