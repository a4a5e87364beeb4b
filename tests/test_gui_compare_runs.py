"""The Compare page's run selector: each named run's results, side by side with main's."""

from __future__ import annotations

import pytest

from tests.gui_helpers import add_eval_rows, add_queries, settings, window  # noqa: F401
from twt_backend.store import Project, variants

pytestmark = pytest.mark.gui


def test_compare_page_switches_between_runs(window, tmp_path) -> None:  # noqa: F811
    root = tmp_path / "p"
    with Project.create(root, "math", "runs") as project:
        add_queries(project, 4, split_every=1)
        add_eval_rows(project, "stage3", [1, 1, 0, 0], 10)
        with variants.create_run(project, "nocomp", {"pipeline": {"skip_stages": [2]}}) as run:
            add_eval_rows(run, "stage3", [1, 1, 1, 0], 30)
            add_eval_rows(run, "teacher:gpt", [1, 1, 1, 1], 90)
    window.page("Projects").controller.open(root)
    compare = window.show_page("Compare")
    assert [compare.run_box.itemText(i) for i in range(compare.run_box.count())] == [
        "main",
        "nocomp",
    ]
    assert compare.run_box.isVisible()
    assert [c[:5] for c in compare.summary_cells()] == [
        ["TwT stage 3 (reasoning-free)", "twt", "4", "2", "50.0%"]
    ]
    compare.run_box.setCurrentText("nocomp")
    compare.run_box.activated.emit(1)
    assert [c[:5] for c in compare.summary_cells()] == [
        ["Teacher gpt", "teacher", "4", "4", "100.0%"],
        ["TwT stage 3 (reasoning-free)", "twt", "4", "3", "75.0%"],
    ]
    compare.refresh()  # the chosen run stays chosen
    assert compare.run_box.currentText() == "nocomp"
