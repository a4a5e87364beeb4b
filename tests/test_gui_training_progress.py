"""Training page progress: step k of N, phase, elapsed and ETA of the followed run; the run
list and the header from one read; the log pane without progress-bar frames; a new run
(a pipeline's next stage) followed; a real tiny training job followed live."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from training_helpers import add_validation_split, processes_with, seed_samples, train_config

from tests.gui_helpers import add_queries, settings  # noqa: F401 - fixtures
from twt_backend import jobs
from twt_backend.store import Project, utcnow
from twt_gui.pages.training_ctl import MetricSeries, clean_log, header_html

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, settings, tmp_path):  # noqa: F811
    from twt_gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    root = tmp_path / "p"
    project = Project.create(root, "math", "progress")
    add_queries(project, 10)
    project.close()
    win.page("Projects").controller.open(root)
    yield win
    win.session.close()
    for pid in processes_with(str(root)):
        os.kill(pid, signal.SIGKILL)


def set_job(project: Project, job_id: int, status: str, **progress) -> None:
    finished = utcnow() if status not in jobs.ACTIVE else None
    with project.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET status=?, started_at=COALESCE(started_at, ?), finished_at=?,"
            " progress=? WHERE id=?",
            (status, utcnow(), finished, json.dumps(progress), job_id),
        )


# ---- the controller, without widgets ---------------------------------------------------------
def test_clean_log_keeps_the_last_state_of_rewritten_lines_and_drops_ansi():
    raw = (
        "2025-01-01 job started\n"
        "Loading weights:   0%|          | 0/3 [00:00<?, ?it/s]\r"
        "Loading weights:  33%|███▎      | 1/3 [00:01<00:02]\r"
        "Loading weights: 100%|██████████| 3/3 [00:02<00:00]\r\n"
        "\x1b[1m\x1b[32mok\x1b[0m bold green\n"
        "\x1b[2K\rstep 5 done\n"
        "windows line\r\n"
    )
    assert clean_log(raw).splitlines() == [
        "2025-01-01 job started",
        "Loading weights: 100%|██████████| 3/3 [00:02<00:00]",
        "ok bold green",
        "step 5 done",
        "windows line",
    ]


def test_header_from_the_progress_snapshot_and_the_metrics_rows(window):
    project = window.session.project
    job_id = jobs.create_job(project, "train", {"stage": 1}, name="stage1")
    now = time.time()
    snapshot = {
        "phase": "evaluating",
        "bars": {"train": {"done": 12, "total": 40}},
        "timing": {"train": {"eta_s": 95.0, "at": now}},
    }
    set_job(project, job_id, "running", **snapshot)
    with project.transaction() as conn:
        conn.executemany(
            "INSERT INTO metrics(job_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)",
            [
                (job_id, 10, "eval_accuracy", 0.375, now),
                (job_id, 10, "eval_output_tokens", 61.4, now),
            ],
        )
    series = MetricSeries(project, job_id)
    series.poll()
    row = jobs.get_job(project, job_id)
    text = header_html(row, series, now=now)
    assert re.search(
        r"Run #\d+ train stage1: <b>running</b> — evaluating · step 12 of 40 · "
        r"\d+:\d\d elapsed · ETA 1:35",
        text,
    ), text
    assert "Last validation (step 10): accuracy 0.38, 61 output tokens" in text
    named = header_html({**row, "name": "train stage 1"}, series, now=now)  # the pipeline's
    assert f"Run #{job_id} train stage 1: <b>running</b>" in named


# ---- the page ----------------------------------------------------------------------------------
def test_run_list_and_header_agree_when_a_run_ends(window):
    project = window.session.project
    job_id = jobs.create_job(project, "train", {"stage": 1}, name="stage1")
    set_job(project, job_id, "running", phase="training", bars={"train": {"done": 3, "total": 8}})
    page = window.show_page("Training")
    assert page.series.job_id == job_id
    assert "running" in page.runs.currentItem().text()
    assert "step 3 of 8" in page.runs.currentItem().text()
    assert "<b>running</b> — training · step 3 of 8" in page.run_status.text()

    set_job(project, job_id, "finished", bars={"train": {"done": 8, "total": 8}})
    page.refresh_status()  # the page's 1 Hz read

    assert page.runs.currentItem().text() == f"#{job_id} train stage 1 — finished"
    assert "<b>finished</b> — step 8 of 8 · took" in page.run_status.text()
    assert not page.cancel_button.isEnabled()


def test_page_follows_a_new_run_once_the_followed_one_ended(window):
    project = window.session.project
    first = jobs.create_job(project, "train", {"stage": 1}, name="stage1")
    set_job(project, first, "finished", bars={"train": {"done": 8, "total": 8}})
    page = window.show_page("Training")
    assert page.series.job_id == first
    second = jobs.create_job(project, "train", {"stage": 2}, name="stage2")  # a pipeline's next
    set_job(project, second, "running", phase="loading")

    page.refresh_status()

    assert page.series.job_id == second
    assert page.runs.count() == 2 and page.runs.currentItem().text().startswith(f"#{second}")
    assert "<b>running</b> — loading" in page.run_status.text()
    # the user picks the old run: a later status read does not pull them away
    page.runs.setCurrentRow(1)
    page.refresh_status()
    assert page.series.job_id == first


def test_log_pane_shows_the_worker_log_without_bar_frames(window):
    project = window.session.project
    job_id = jobs.create_job(project, "eval", {"stage": 0}, name="eval stage0")
    folder = Path(jobs.get_job(project, job_id)["artifact_dir"])
    (folder / "worker.log").write_text(
        "Generating:  10%|#         | 1/10\rGenerating: 100%|##########| 10/10\n"
        "\x1b[33mwarning\x1b[0m: done\n"
    )
    page = window.show_page("Training")
    text = page.log.toPlainText()
    assert "Generating: 100%|##########| 10/10" in text and "warning: done" in text
    assert "\r" not in text and "\x1b" not in text and "10%|" not in text


def test_a_real_tiny_training_run_shows_its_phase_step_and_eta(window, qtbot, tiny_model_dir):
    """A real worker and trainer on the tiny model, followed by the page at its own cadence:
    what the header said while the job ran, and at the end."""
    project = window.session.project
    seed_samples(project, 36)
    add_validation_split(project, 4)
    config = train_config(
        1,
        tiny_model_dir,
        max_steps=30,
        eval_steps=10,
        eval_size=4,
        max_length=160,
        save_steps=15,
        eval_max_new_tokens=8,
    )
    job_id = jobs.create_job(project, "train", config, name="stage1")
    jobs.start_detached(project, job_id)
    page = window.show_page("Training")
    assert page.series.job_id == job_id
    seen: list[str] = []

    def ended() -> bool:
        text = page.run_status.text()
        if not seen or seen[-1] != text:
            seen.append(text)
        return "<b>finished</b>" in text or "<b>failed</b>" in text

    qtbot.waitUntil(ended, timeout=240_000)
    assert "<b>finished</b>" in seen[-1], seen[-1]
    running = [t for t in seen if "<b>running</b>" in t]
    phases = {m.group(1) for t in running if (m := re.search(r"— (\w+) ·", t))}
    # the trainer's own phases follow the loading (which of them the page catches depends on
    # how fast the tiny run goes between two of its ticks: all 30 steps may fall between two)
    assert "loading" in phases and phases & {"training", "evaluating", "saving"}, running
    steps = [int(m.group(1)) for t in running if (m := re.search(r"step (\d+) of 30 ·", t))]
    assert steps and all(0 <= k <= 30 for k in steps) and steps == sorted(steps)
    assert any(re.search(r"elapsed · ETA \d+:\d\d", t) for t in running), running
    assert re.search(r"<b>finished</b> — step 30 of 30 · took \d+:\d\d", seen[-1])
    assert page.runs.currentItem().text() == f"#{job_id} train stage 1 — finished"
    # every live validation point reached the plots: every 10 steps and at each epoch end
    # (36 training examples, batch 4: epochs end at steps 9, 18, 27)
    stored = project.rows(
        "SELECT step FROM metrics WHERE job_id=? AND name='eval_accuracy' ORDER BY id", (job_id,)
    )
    assert [r["step"] for r in stored] == [9, 10, 18, 20, 27, 30]
    assert list(page.curves["eval_accuracy"].xData) == [9, 10, 18, 20, 27, 30]
    assert page.points("eval_output_tokens") == 6
    assert "Last validation (step 30)" in seen[-1]


def test_page_opened_before_any_run_follows_the_first_one(window):
    """The demo's case: the page is open while the pipeline labels and selects; its first
    train job must appear and be followed without a click."""
    page = window.show_page("Training")
    assert page.series is None and page.runs.count() == 0
    project = window.session.project
    job_id = jobs.create_job(project, "train", {"stage": 1}, name="stage1")
    set_job(project, job_id, "running", phase="loading")

    for _ in range(10):  # one second of the page's ticks
        page.poll()

    assert page.series is not None and page.series.job_id == job_id
    assert page.runs.count() == 1 and "<b>running</b> — loading" in page.run_status.text()


def test_everything_pending_is_drawn_when_the_followed_run_ends(window):
    project = window.session.project
    job_id = jobs.create_job(project, "train", {"stage": 1}, name="stage1")
    set_job(project, job_id, "running", phase="training", bars={"train": {"done": 3, "total": 3}})
    page = window.show_page("Training")
    page.timer.stop()  # ticks by hand
    with project.transaction() as conn:
        conn.executemany(
            "INSERT INTO metrics(job_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)",
            [(job_id, s, n, 0.5, time.time()) for s in (1, 2, 3) for n in ("loss", "tokens_per_s")],
        )
    page.poll()  # one tick: at most one plot is painted
    assert page.points("loss") + page.points("tokens_per_s") <= 3
    set_job(project, job_id, "finished", bars={"train": {"done": 3, "total": 3}})
    page.refresh_status()
    assert page.points("loss") == 3 and page.points("tokens_per_s") == 3
