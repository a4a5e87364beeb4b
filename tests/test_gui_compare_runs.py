"""The Compare page's run selector: each named run's results, side by side with main's."""

from __future__ import annotations

import pytest

from tests.gui_helpers import add_queries, settings  # noqa: F401 - fixtures
from twt_backend.store import Project, utcnow, variants

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, settings, tmp_path):  # noqa: F811
    from twt_gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.session.close()


def _results(store: Project, method: str, correct: list[int], tokens: int) -> None:
    with store.transaction() as conn:
        for qid, ok in enumerate(correct, start=1):
            conn.execute(
                "INSERT INTO eval_results(method, query_id, output, answer, tokens, correct,"
                " created_at) VALUES (?, ?, 'out', '1', ?, ?, ?)",
                (method, qid, tokens, ok, utcnow()),
            )


def test_compare_page_switches_between_runs(window, tmp_path) -> None:
    root = tmp_path / "p"
    with Project.create(root, "math", "runs") as project:
        add_queries(project, 4, split_every=1)
        _results(project, "stage3", [1, 1, 0, 0], 10)
        with variants.create_run(project, "nocomp", {"pipeline": {"skip_stages": [2]}}) as run:
            _results(run, "stage3", [1, 1, 1, 0], 30)
            _results(run, "teacher:gpt", [1, 1, 1, 1], 90)
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
