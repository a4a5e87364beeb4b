"""The app's "New run (ablation)…": a named run started with the settings chosen, through
the same operation as `twt run --name`."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from tests.gui_helpers import add_labels, add_queries, async_loop, settings, window  # noqa: F401
from twt_backend.ops import jobs as ops_jobs
from twt_backend.ops.runs import runs_summary
from twt_backend.store import Project

pytestmark = pytest.mark.gui


def _refused(dialog) -> bool:
    """The dialog shows an error (not its "Preparing run…" note)."""
    return bool(dialog.error.text()) and "…" not in dialog.error.text()


def _project(tmp_path):
    root = tmp_path / "p"
    with Project.create(root, "math", "ablate") as project:
        add_queries(project, 10)
        add_labels(project, ["gpt", "mis", "lla"])
    return root


def test_new_run_dialog_starts_a_named_run_with_the_chosen_settings(
    window,  # noqa: F811
    qtbot,
    tmp_path,
    async_loop,  # noqa: F811
) -> None:
    root = _project(tmp_path)
    window.page("Projects").controller.open(root)
    training = window.show_page("Training")
    dialog = training.new_run_dialog()
    names = [dialog.teachers.item(i).text() for i in range(dialog.teachers.count())]
    assert sorted(names) == ["gpt", "lla", "mis"]
    dialog.name.setText("single-mis")
    dialog.skip_compression.setChecked(True)
    dialog.teachers.item(names.index("mis")).setCheckState(Qt.CheckState.Checked)
    dialog.strategy.setCurrentText("quality")
    dialog.use_threshold.setChecked(True)
    dialog.threshold.setValue(0.8)
    dialog.refine.setCurrentText("fixed-length")
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: dialog.started is not None or _refused(dialog), timeout=60_000)
    started = dialog.started
    assert started is not None, dialog.error.text()
    try:
        with Project.open(root, readonly=True) as project:
            [run] = [r for r in runs_summary(project) if r["name"] == "single-mis"]
        assert run["settings"]["teachers"] == ["mis"]
        assert run["settings"]["selection"] == {"strategy": "quality", "threshold": 0.8}
        pipeline = run["settings"]["pipeline"]
        assert (pipeline["n_stages"], pipeline["skip_stages"]) == (3, [2])
        assert pipeline["refine"]["method"] == "fixed-length"
        assert pipeline["label"] is False  # a named run shares the project's labels
        with Project.open(started.root, readonly=True) as store:
            job = ops_jobs.get_job(store, started.job_id)
        assert job["kind"] == "pipeline"
        config = job["config"] if isinstance(job["config"], dict) else json.loads(job["config"])
        assert config["skip_stages"] == [2] and config["refine"]["method"] == "fixed-length"
        assert "single-mis" in training.run_status.text()
    finally:
        ops_jobs.cancel(started.root, started.job_id)


def test_new_run_dialog_shows_a_refusal_and_starts_nothing(
    window,  # noqa: F811
    qtbot,
    tmp_path,
    async_loop,  # noqa: F811
) -> None:
    root = _project(tmp_path)
    window.page("Projects").controller.open(root)
    dialog = window.show_page("Training").new_run_dialog()
    dialog.name.setText("main")  # the project itself: refused, as `twt run --name main`
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: _refused(dialog), timeout=60_000)
    assert "main" in dialog.error.text() and dialog.started is None
    assert dialog.isVisible()
    with Project.open(root, readonly=True) as project:
        assert [r["name"] for r in runs_summary(project)] == ["main"]
