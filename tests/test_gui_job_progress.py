"""Labelling and refinement pages: items done of total, elapsed and ETA of their job, in the
same words as the terminal (twt_backend.progress)."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.gui_helpers import add_queries, settings  # noqa: F401 - fixtures
from twt_backend import jobs
from twt_backend.store import Project, utcnow

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, settings, tmp_path):  # noqa: F811
    from twt_gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    root = tmp_path / "p"
    project = Project.create(root, "math", "progress")
    add_queries(project, 12, split_every=1000)  # all in train
    project.close()
    win.page("Projects").controller.open(root)
    yield win
    win.session.close()


def test_labelling_page_shows_items_done_elapsed_and_eta_of_a_real_job(window, qtbot):
    from tests.fake_openai import FakeOpenAIServer
    from twt_backend.config import TeacherConfig
    from twt_gui.pages.setup_ctl import SetupController

    with FakeOpenAIServer(latency_s=0.3) as server:
        SetupController(window.session.project).save_teacher(
            TeacherConfig(name="fake", model="m", base_url=server.base_url, concurrency=1)
        )
        page = window.show_page("Labelling")
        page.split.setCurrentText("all")
        job_id = page.start()
        assert job_id is not None
        statuses: list[str] = []
        details: list[str] = []

        def ended() -> bool:
            statuses.append(page.status.text())
            if "fake" in page.bars:
                details.append(page.bars["fake"].detail.text())
            return page.start_button.isEnabled() and "<b>finished</b>" in statuses[-1]

        qtbot.waitUntil(ended, timeout=120_000)
    running = [s for s in statuses if "<b>running</b>" in s]
    counted = [
        int(m.group(1))
        for s in running
        if (m := re.search(r"— labelling · (\d+) of 12 items · \d+:\d\d elapsed", s))
    ]
    assert counted and counted == sorted(counted) and counted[0] < 12, running
    assert any(re.search(r"ETA \d+:\d\d", s) for s in running), running
    assert any(re.search(r"· ETA \d+:\d\d$", d) for d in details), details
    assert re.search(r"<b>finished</b> — 12 of 12 items · took \d+:\d\d", statuses[-1])


def test_refinement_page_follows_its_job(window):
    project = window.session.project
    job_id = jobs.create_job(project, "refine", {"method": "teacher"}, name="refine")
    snapshot = {
        "bars": {"refinement round 1": {"done": 40, "total": 120}},
        "timing": {"refinement round 1": {"eta_s": 62.0, "at": time.time()}},
        "message": "refinement round 1 (teacher)",
    }
    with project.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET status='running', started_at=?, progress=? WHERE id=?",
            (utcnow(), json.dumps(snapshot), job_id),
        )
    page = window.show_page("Refinement")
    text = page.job_status.text()
    assert page.job_status.isVisibleTo(page)
    assert re.fullmatch(
        rf"Refinement job {job_id}: running — refining · 40 of 120 items · 0:0\d elapsed · "
        r"ETA 1:0[12]",
        text,
    ), text
    with project.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET status='failed', finished_at=?, error='teacher t1 unreachable'"
            " WHERE id=?",
            (utcnow(), job_id),
        )
    page.poll_job()
    assert page.job_status.text().startswith(f"Refinement job {job_id}: failed — 40 of 120")
    assert page.job_status.text().endswith("(teacher t1 unreachable)")
