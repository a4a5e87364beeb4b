"""`twt-studio [DIR]`: the desktop app; `--smoke-test` visits every page and exits."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from twt_backend.errors import TwtError
from twt_backend.log_setup import configure_logging
from twt_backend.ops.projects import absolute
from twt_gui.assets import asset
from twt_gui.main_window import MainWindow
from twt_gui.pages.projects import ProjectsPage
from twt_gui.platform_check import startup_problem
from twt_gui.style import apply_theme

ORGANIZATION = "TwT Studio"
APPLICATION = "twt-studio"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="twt-studio", description="TwT Studio desktop app.")
    parser.add_argument("dir", nargs="?", help="project folder (default: the demo project)")
    parser.add_argument(
        "--smoke-test", action="store_true", help="visit every page, save screenshots, exit 0"
    )
    parser.add_argument("--screenshots", type=Path, help="folder for the smoke-test PNGs")
    parser.add_argument("--theme", choices=("light", "dark"), help="colour theme")
    args = parser.parse_args(argv)
    if args.dir:  # once, here: workers started from the app get only absolute folders
        args.dir = str(absolute(args.dir))
    return args


def application() -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication([sys.argv[0] if sys.argv else APPLICATION])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setDesktopFileName("twt-studio")
    app.setWindowIcon(QIcon(str(asset("icons", "twt-studio.svg"))))
    return app


def open_initial_project(window: MainWindow, folder: str | None) -> None:
    """Open DIR, or the demo project when no DIR is given (if the back end provides one)."""
    projects = window.page("Projects")
    assert isinstance(projects, ProjectsPage)
    if folder:
        projects.controller.open(folder)
    else:
        projects.controller.open_demo()


def build_window(args: argparse.Namespace, settings: QSettings) -> MainWindow:
    app = application()
    apply_theme(app, args.theme or str(settings.value("ui/theme", "light")))
    window = MainWindow(settings=settings)
    if args.theme:
        settings.setValue("ui/theme", args.theme)
    open_initial_project(window, args.dir)
    return window


def smoke_test(args: argparse.Namespace) -> int:
    from twt_gui.smoke import visit_pages

    with tempfile.TemporaryDirectory(prefix="twt-smoke-") as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = build_window(args, settings)
        window.resize(1280, 800)
        window.show()
        saved = visit_pages(window, args.screenshots)
        window.close()
        window.session.close()
        window.deleteLater()
    print(f"platform: {QApplication.platformName()}")
    for path in saved:
        print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if QApplication.instance() is None:
        problem = startup_problem(args.smoke_test)
        if problem:
            print(problem, file=sys.stderr)
            return 1
    app = application()
    try:
        if args.smoke_test:
            configure_logging("cli")  # stderr only: no log file from checks
            return smoke_test(args)
        import qasync

        from twt_gui.errors import install_error_reporting

        errors = install_error_reporting()  # logging to a file + a dialog for uncaught errors
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        errors.watch(loop)
        window = build_window(args, QSettings())
        window.show()
        window.show_first_run_guide()
        with loop:
            loop.run_until_complete(_until_closed(app))
        window.session.close()
        return 0
    except TwtError as exc:
        print(f"twt-studio: {exc}", file=sys.stderr)
        return 2


async def _until_closed(app: QApplication) -> None:
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    await closed.wait()


if __name__ == "__main__":
    sys.exit(main())
