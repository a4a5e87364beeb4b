"""Screenshot of the Compare page of a finished project (e.g. the demo after `twt run`).

    xvfb-run -a .venv/bin/python scripts/screenshot_compare.py OUT.png --project DIR

(docs/images/08-demo-compare.png was taken this way from a real demo run, with
`xvfb-run -a -s "-screen 0 1920x1200x24"` and `--size 1600x1080`.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import twt_gui  # noqa: E402, F401 - first: PySide6 refcount workaround


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--size", default="1400x900", help="window size, WIDTHxHEIGHT")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from twt_gui.main_window import MainWindow
    from twt_gui.style import apply_theme

    app = QApplication([])
    apply_theme(app, "light")
    with tempfile.TemporaryDirectory(prefix="twt-shot-") as tmp:
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        width, height = (int(v) for v in args.size.lower().split("x"))
        window.resize(width, height)
        window.show()
        window.page("Projects").controller.open(args.project.resolve())
        page = window.show_page("Compare")
        for _ in range(100):  # let the page and its plots paint
            app.processEvents()
            time.sleep(0.02)
        if page.panel.is_empty:
            print(f"{args.project}: nothing to compare", file=sys.stderr)
            return 1
        window.grab().save(str(args.out))
        print(f"{args.out}: {len(page.summary_cells())} rows")
        window.close()
        window.session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
