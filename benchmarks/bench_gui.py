"""GUI benchmark: main-thread stalls under live jobs, and the review table at 100k rows.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py [--seconds 10]

1. A real labelling job (worker process against the local fake OpenAI server) and a
   simulated training job (another process writing loss/lr/tokens-per-s metrics at 20
   steps/s) run while the Training page follows the training job at 10 Hz and the
   Labelling page polls its job. A 5 ms QTimer measures the longest gap between ticks:
   the main-thread stall. Target: max stall < 50 ms.
   The same is then measured for half as long with the Training page not following (same
   processes, no redraws): the floor that OS scheduling alone gives on this machine.
2. A project with 100k generations: time from opening the Review page to its first rows
   (target < 1 s) and the process RSS afterwards (target < 300 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twt_backend.store import Project, utcnow  # noqa: E402

TICK_MS = 5


def make_project(root: Path, queries: int, teachers: int = 0, per_query: bool = True) -> Project:
    project = Project.create(root, "math", root.name)
    now = utcnow()
    with project.transaction() as conn:
        rows = []
        for i in range(queries):
            payload = json.dumps({"question": f"Question {i}: what is {i} plus 3?"})
            rows.append(
                (
                    f"q{i}",
                    "train",
                    payload,
                    str(i + 3),
                    "bench",
                    hashlib.sha1(payload.encode()).hexdigest(),
                    now,
                )
            )
        conn.executemany(
            "INSERT INTO queries(source_id, split, payload, reference, source, content_hash, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        for t in range(teachers):
            conn.execute(
                "INSERT INTO teachers(name, provider, model, config, created_at) VALUES (?, 'openai', 'm', ?, ?)",
                (f"teacher{t}", json.dumps({"name": f"teacher{t}", "model": "m"}), now),
            )
    return project


def fill_generations(project: Project, n: int, teachers: int) -> None:
    now = utcnow()
    queries = n // teachers
    with project.transaction() as conn:
        conn.executemany(
            "INSERT INTO generations(query_id, teacher_id, request_hash, status, rationale, answer,"
            " confidence, parse_status, tokens_in, tokens_out, created_at, updated_at)"
            " VALUES (?, ?, ?, 'ok', ?, ?, ?, 'ok', 100, 200, ?, ?)",
            (
                (
                    q + 1,
                    t + 1,
                    f"{q}-{t}",
                    f"Teacher {t} reasons about question {q} in a few steps.",
                    str(q + 3),
                    (q * 7 + t * 13) % 100 / 100,
                    now,
                    now,
                )
                for q in range(queries)
                for t in range(teachers)
            ),
        )


@contextlib.contextmanager
def fake_server(latency_s: float) -> Iterator[str]:
    """The fake OpenAI server in its own process (in-process it would compete for the GIL)."""
    server = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "fake_openai.py"), "--latency", str(latency_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())["base_url"]
    finally:
        server.terminate()
        server.wait(10)


def metrics_writer(root: str, job_id: int, seconds: float) -> None:
    with Project.open(root) as project:
        step, end = 0, time.time() + seconds
        while time.time() < end:
            step += 1
            now = time.time()
            with project.transaction() as conn:
                conn.executemany(
                    "INSERT INTO metrics(job_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)",
                    [
                        (job_id, step, "loss", 3.0 / step, now),
                        (job_id, step, "learning_rate", 1e-5, now),
                        (job_id, step, "tokens_per_s", 800.0, now),
                    ],
                )
            time.sleep(0.05)


class StallMeter:
    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.last = time.perf_counter()
        self.gaps: list[float] = []
        self.timer = QTimer(interval=TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def stalls_ms(self) -> tuple[float, float]:
        gaps = sorted(g * 1000 - TICK_MS for g in self.gaps[5:])
        return max(gaps), gaps[int(len(gaps) * 0.99)]


def run_for(seconds: float) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.001)


def bench_stall(tmp: Path, seconds: float) -> dict:
    from PySide6.QtCore import QSettings

    from twt_backend import jobs
    from twt_backend.config import TeacherConfig
    from twt_gui.main_window import MainWindow
    from twt_gui.pages.setup_ctl import SetupController

    project = make_project(tmp / "live", 3000)
    with fake_server(latency_s=0.2) as base_url:
        SetupController(project).save_teacher(
            TeacherConfig(name="fake", model="m", base_url=base_url, concurrency=16)
        )
        train_job = jobs.create_job(project, "train", {"stage": 1}, name="simulated stage1")
        window = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
        window.resize(1280, 800)
        window.show()
        window.page("Projects").controller.open(project.root)
        labelling = window.show_page("Labelling")
        labelling.split.setCurrentText("all")
        label_job = labelling.start()
        writer = multiprocessing.get_context("spawn").Process(
            target=metrics_writer, args=(str(project.root), train_job, seconds * 1.5 + 2)
        )
        writer.start()
        training = window.show_page("Training")
        training.follow(train_job)
        labelling.timer.start()  # keep polling the labelling job in the background
        run_for(1.0)
        meter = StallMeter()
        run_for(seconds)
        worst, p99 = meter.stalls_ms()
        meter.timer.stop()
        points = training.points("loss")
        training.timer.stop()  # the floor: same processes, no plot redraws
        floor = StallMeter()
        run_for(seconds / 2)
        floor_worst, floor_p99 = floor.stalls_ms()
        floor.timer.stop()
        done = sum(b.bar.value() for b in labelling.bars.values())
        jobs.cancel(window.session.project, label_job, grace_s=5)
        writer.join()
        window.close()
        window.session.close()
    project.close()
    return {
        "max_stall_ms": round(worst, 1),
        "p99_stall_ms": round(p99, 1),
        "floor_max_stall_ms": round(floor_worst, 1),
        "floor_p99_stall_ms": round(floor_p99, 1),
        "loss_points": points,
        "labelled_during_run": done,
    }


def proposed_redraw(self) -> None:  # type: ignore[no-untyped-def]
    """TrainingPage.redraw with twt_gui.live_plot (stepped x range, slow plots every 5
    ticks): what `--proposed-redraw` measures before the Training page adopts it."""
    import pyqtgraph as pg

    from twt_gui.live_plot import RedrawCadence, follow_x
    from twt_gui.pages.training import COLOURS
    from twt_gui.pages.training_ctl import plot_of

    cadence = self.__dict__.setdefault("_cadence", RedrawCadence())
    series = sorted(self.series.series.items())
    due = cadence.tick({p for p in (plot_of(name) for name, _ in series) if p})
    for k, (name, (xs, ys)) in enumerate(series):
        plot = plot_of(name)
        if plot is None or (plot not in due and name in self.curves):
            continue
        curve = self.curves.get(name)
        if curve is None:  # as TrainingPage.redraw draws them
            colour = COLOURS[k % len(COLOURS)]
            if name.startswith("eval"):
                pen = pg.mkPen(colour, width=1) if plot != "loss" else None
                curve = self.plots[plot].plot(
                    name=name, pen=pen, symbol="o", symbolBrush=colour, symbolSize=8
                )
            else:
                curve = self.plots[plot].plot(name=name, pen=pg.mkPen(colour, width=2))
            self.curves[name] = curve
        curve.setData(xs, ys)
        if xs:
            follow_x(self.plots[plot], xs[-1])


def bench_review(tmp: Path, n: int) -> dict:
    import psutil
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from twt_gui.main_window import MainWindow

    teachers = 4
    project = make_project(tmp / "big", n // teachers, teachers)
    fill_generations(project, n, teachers)
    project.close()
    window = MainWindow(settings=QSettings(str(tmp / "s2.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 800)
    window.show()
    window.page("Projects").controller.open(tmp / "big")
    QApplication.processEvents()
    started = time.perf_counter()
    review = window.show_page("Review")
    QApplication.processEvents()
    first_rows_s = time.perf_counter() - started
    rows = review.model.rowCount()
    started = time.perf_counter()
    review.search.setText("question 777")
    review.apply_filter()
    QApplication.processEvents()
    search_s = time.perf_counter() - started
    rss = psutil.Process().memory_info().rss / 2**20
    window.close()
    window.session.close()
    return {
        "generations": n,
        "first_rows_s": round(first_rows_s, 3),
        "rows_loaded": rows,
        "search_s": round(search_s, 3),
        "rss_mb": round(rss, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--generations", type=int, default=100_000)
    parser.add_argument(
        "--proposed-redraw",
        action="store_true",
        help="also measure the stall with the Training page redrawing via twt_gui.live_plot",
    )
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # noqa: F841
    with tempfile.TemporaryDirectory(prefix="twt-bench-gui-") as tmp:
        review = bench_review(Path(tmp), args.generations)
        stall = bench_stall(Path(tmp), args.seconds)
        if args.proposed_redraw:
            from twt_gui.pages.training import TrainingPage

            TrainingPage.redraw = proposed_redraw  # type: ignore[method-assign]
            proposed = bench_stall(Path(tmp) / "proposed", args.seconds)
            stall["proposed"] = {k: v for k, v in proposed.items() if "stall" in k}
    result = {**stall, **review}
    print(json.dumps(result, indent=2))
    ok = result["max_stall_ms"] < 50 and result["first_rows_s"] < 1 and result["rss_mb"] < 300
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
