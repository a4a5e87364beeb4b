"""Screenshot of the Training page following a real training run, mid-run.

    .venv/bin/python scripts/screenshot_training.py OUT.png --project DIR [--at 0.5]
        follow the running (or next) train job of DIR, e.g. while `twt run DIR` works
    .venv/bin/python scripts/screenshot_training.py OUT.png --tiny-run [--at 0.5]
        start a real stage-1 run of the tests' tiny model on a temporary project

The picture is taken once the run is past `--at` of its steps, shows an ETA and at least
`--points` live validation points (docs/images/06-training-live.png was taken this way).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import twt_gui  # noqa: E402, F401 - first: PySide6 refcount workaround


def tiny_project(root: Path) -> int:
    """A project with 80 selected samples and a queued 120-step stage-1 job of the tiny LM."""
    from training_helpers import seed_samples, train_config

    from twt_backend import jobs
    from twt_backend.models import build_tiny_model
    from twt_backend.store import Project

    project = Project.create(root, "math", "tiny-run")
    seed_samples(project, 80)
    model = build_tiny_model(REPO / "tests" / ".cache" / "tiny-lm")
    config = train_config(
        1,
        model,
        max_steps=120,
        eval_steps=10,
        eval_size=8,
        max_length=160,
        save_steps=40,
        eval_max_new_tokens=16,
        lr=3e-3,
    )
    job_id = jobs.create_job(project, "train", config, name="stage1")
    jobs.start_detached(project, job_id)
    project.close()
    return job_id


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--project", type=Path)
    where.add_argument("--tiny-run", action="store_true")
    parser.add_argument("--at", type=float, default=0.5, help="fraction of the steps done")
    parser.add_argument("--points", type=int, default=3, help="live validation points")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from twt_backend import jobs
    from twt_gui.main_window import MainWindow
    from twt_gui.style import apply_theme

    app = QApplication([])
    apply_theme(app, "light")
    with tempfile.TemporaryDirectory(prefix="twt-shot-") as tmp:
        root = args.project or Path(tmp) / "project"
        job_id = tiny_project(root) if args.tiny_run else None
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        window.resize(1400, 900)
        window.show()
        window.page("Projects").controller.open(root)
        page = window.show_page("Training")
        if job_id is not None:
            page.reload_runs(select=job_id)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.02)
            text = page.run_status.text()
            step = re.search(r"step (\d+) of (\d+)", text)
            if (
                step
                and "<b>running</b>" in text
                and "ETA" in text
                and int(step.group(1)) >= args.at * int(step.group(2))
                and page.points("eval_accuracy") >= args.points
            ):
                break
        else:
            print(f"not reached in {args.timeout:.0f} s: {page.run_status.text()}")
            return 1
        for _ in range(25):  # let the last redraw paint
            app.processEvents()
            time.sleep(0.02)
        window.grab().save(str(args.out))
        print(f"{args.out}: {page.run_status.text()}")
        if args.tiny_run and page.series is not None:
            jobs.cancel(window.session.project, page.series.job_id, grace_s=5)
        window.close()
        window.session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
