"""Training page, offscreen: baseline launches, evaluations of stages and baselines, and the
live evaluation plots (accuracy and output tokens beside the loss)."""

from __future__ import annotations

import time

import pytest

from tests.gui_helpers import add_labels, add_queries, settings  # noqa: F401 - fixtures
from twt_backend import jobs
from twt_backend.store import Project

pytestmark = pytest.mark.gui


@pytest.fixture
def page(qtbot, settings, tmp_path, monkeypatch):  # noqa: F811
    from twt_gui.main_window import MainWindow

    monkeypatch.setattr(jobs, "start_detached", lambda project, job_id: None)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    root = tmp_path / "p"
    project = Project.create(root, "math", "gui-test")
    add_queries(project, 10)  # two of them in the test split
    add_labels(project, ["gpt", "mis"])  # selected samples: the baselines have examples
    project.close()
    win.page("Projects").controller.open(root)
    yield win.show_page("Training")
    win.session.close()


def choose(page, kind, target):
    index = next(i for i in range(page.what.count()) if page.what.itemData(i) == (kind, target))
    page.what.setCurrentIndex(index)


def test_baseline_launch_config(page):
    page.launcher.setCurrentIndex(1)  # torchrun
    page.nproc.setValue(2)
    choose(page, "train", "dss")
    job = jobs.get_job(page.controller.project, page.start())
    config = job["config"]
    assert job["kind"] == "train" and config["baseline"] == "dss" and config["stage"] == 0
    assert config["launch"]["launcher"] == "torchrun" and config["launch"]["nproc"] == 2
    assert config["lora"]["rank"] == 8 and config["training"]["lr"] == 1e-5
    # one click on the KD button gives the same kind of job for kd
    page.baseline_buttons[("train", "kd")].click()
    (kd,) = [j for j in jobs.list_jobs(page.controller.project) if j["name"] == "train baseline kd"]
    assert kd["config"]["baseline"] == "kd" and kd["config"]["stage"] == 0
    assert page.runs.currentItem().text().startswith(f"#{kd['id']} train baseline kd")


def test_evaluate_vanilla_and_refuse_untrained_baseline(page, monkeypatch):
    from twt_gui.pages import training

    warnings = []
    monkeypatch.setattr(
        training.QMessageBox, "warning", lambda parent, title, text: warnings.append(text)
    )
    page.baseline_buttons[("eval", 0)].click()
    (job,) = jobs.list_jobs(page.controller.project)
    assert job["kind"] == "eval" and job["config"]["stage"] == 0
    assert job["config"]["method"] == "stage0" and job["config"]["adapter"] is None
    assert job["config"]["student"]  # a complete config: the worker can run it
    choose(page, "eval", "kd")
    assert page.start() is None
    assert len(warnings) == 1 and "baseline kd has not been trained" in warnings[0]
    assert len(jobs.list_jobs(page.controller.project)) == 1


def test_live_eval_metrics_are_plotted(page, qtbot):
    project = page.controller.project
    job_id = jobs.create_job(project, "train", {"stage": 1}, name="stage1")
    page.reload_runs(select=job_id)
    with project.transaction() as conn:
        for step, accuracy, tokens in ((2, 0.25, 180.0), (4, 0.5, 150.0)):
            conn.executemany(
                "INSERT INTO metrics(job_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)",
                [
                    (job_id, step, "loss", 1.0 / step, time.time()),
                    (job_id, step, "eval_accuracy", accuracy, time.time()),
                    (job_id, step, "eval_output_tokens", tokens, time.time()),
                ],
            )
    page.poll(force_log=True)
    assert page.points("eval_accuracy") == 2 and page.points("eval_output_tokens") == 2
    assert list(page.curves["eval_accuracy"].yData) == [0.25, 0.5]
    assert list(page.curves["eval_output_tokens"].xData) == [2.0, 4.0]
    assert page.curves["eval_accuracy"] in page.accuracy_plot.listDataItems()
    assert page.curves["eval_output_tokens"] in page.output_tokens_plot.listDataItems()
    assert page.curves["eval_output_tokens"] not in page.tps_plot.listDataItems()
