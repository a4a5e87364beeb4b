"""Cheap live-plot redraws (twt_gui.live_plot) and the axis caching of every plot."""

from __future__ import annotations

import pytest

from twt_gui.live_plot import RedrawCadence, follow_x, nice_ceiling

pytestmark = pytest.mark.gui


def test_nice_ceiling() -> None:
    got = [nice_ceiling(v) for v in (0, 1, 1.01, 2, 2.5, 7, 10, 11, 190, 501)]
    assert got == [1, 1, 2, 2, 5, 10, 10, 20, 200, 1000]


def test_follow_x_changes_the_range_only_at_nice_bounds(qtbot) -> None:
    import pyqtgraph as pg

    from twt_gui.style import style_plots

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    style_plots(plot.parentWidget() or plot, "light")
    curve = plot.plot([1, 2, 3], [3.0, 2.0, 1.0])
    changes = []
    for step in range(1, 60):
        curve.setData(list(range(1, step + 1)), [1.0 / s for s in range(1, step + 1)])
        changes.append(follow_x(plot, step))
    assert sum(changes) == 6  # 0-2, 0-5, 0-10, 0-20, 0-50, 0-100 (5% headroom)
    assert plot.getViewBox().viewRange()[0] == [0, 100]
    assert plot.getViewBox().autoRangeEnabled()[1] is not False  # y still follows the data


def test_style_plots_caches_axes() -> None:
    import pyqtgraph as pg
    from PySide6.QtWidgets import QGraphicsItem, QWidget

    from twt_gui.style import style_plots

    root = QWidget()
    plot = pg.PlotWidget(root)
    style_plots(root, "dark")
    cache = plot.getPlotItem().getAxis("left").cacheMode()
    assert cache == QGraphicsItem.CacheMode.DeviceCoordinateCache
    root.deleteLater()


def test_redraw_cadence_keeps_slow_plots_pending() -> None:
    cadence = RedrawCadence({"lr": 3})
    seen = [cadence.tick({"loss", "lr"}) for _ in range(6)]
    assert [sorted(s) for s in seen] == [
        ["loss"], ["loss"], ["loss", "lr"], ["loss"], ["loss"], ["loss", "lr"],
    ]  # fmt: skip
    assert cadence.tick({"lr"}) == set()
    assert cadence.flush() == {"lr"} and cadence.flush() == set()


def test_nice_bound_for_any_positive_value() -> None:
    from twt_gui.live_plot import nice_bound

    got = [nice_bound(v) for v in (3e-5, 1e-5, 0.7, 1.0, 7, 120, 0, -3)]
    assert got == [5e-5, 1e-5, 1.0, 1.0, 10.0, 200.0, 1.0, 1.0]


def test_follow_y_keeps_a_falling_loss_in_one_range(qtbot) -> None:
    import pyqtgraph as pg

    from twt_gui.live_plot import follow_y

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    losses = [3.0 / step for step in range(1, 200)]
    changes = [follow_y(plot, losses[:n]) for n in range(1, 200)]
    assert sum(changes) == 1 and plot.getViewBox().viewRange()[1] == [0.0, 5.0]
    assert follow_y(plot, [-0.4, 2.0]) and plot.getViewBox().viewRange()[1] == [-0.5, 5.0]
    assert follow_y(plot, [float("nan"), 1e-5]) and plot.getViewBox().viewRange()[1][1] == 2e-5


def test_training_page_legend_lists_only_metrics_with_points(qtbot, tmp_path) -> None:
    import time

    from PySide6.QtCore import QSettings

    from tests.gui_helpers import add_queries
    from twt_backend import jobs
    from twt_backend.store import Project
    from twt_gui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    project = Project.create(tmp_path / "p", "math", "legend")
    add_queries(project, 3)
    job_id = jobs.create_job(project, "train", {"stage": 1}, name="stage1")
    with project.transaction() as conn:
        conn.executemany(
            "INSERT INTO metrics(job_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)",
            [(job_id, s, "loss", 2.0 / s, time.time()) for s in (1, 2, 3)],
        )
    project.close()
    win.page("Projects").controller.open(tmp_path / "p")
    page = win.show_page("Training")

    def legend(plot):
        return [label.text for _, label in plot.getPlotItem().legend.items]

    assert {"eval_accuracy", "eval_loss", "learning_rate"} <= set(page.curves)  # prepared
    assert legend(page.loss_plot) == ["loss"] and legend(page.accuracy_plot) == []
    with win.session.project.transaction() as conn:
        conn.execute(
            "INSERT INTO metrics(job_id, step, name, value, time) VALUES (?, 3, 'eval_accuracy',"
            " 0.5, ?)",
            (job_id, time.time()),
        )
    page.poll()
    assert legend(page.accuracy_plot) == ["eval_accuracy"] and page.points("eval_accuracy") == 1
    assert page.loss_plot.getViewBox().viewRange()[1] == [0.0, 5.0]  # y stepped, not fitted
    win.session.close()


def test_slow_plots_take_turns_and_leave_ticks_free() -> None:
    cadence = RedrawCadence()  # loss every 2 ticks, lr and throughput every 5
    ticks = [cadence.tick({"loss", "lr", "throughput"}) for _ in range(20)]
    assert sum("lr" in due and "throughput" in due for due in ticks) == 0
    assert sum("lr" in due for due in ticks) == 4 and sum("loss" in due for due in ticks) == 10
    probe = RedrawCadence()
    busy = []
    for _ in range(10):
        probe.tick(set())
        busy.append(probe.busy())
    assert busy.count(False) == 3  # ticks where no slow plot paints: for the status read


def test_one_paint_per_tick_loss_first_and_nobody_starves() -> None:
    cadence = RedrawCadence(per_tick=1)
    plots = {"loss", "lr", "throughput", "accuracy", "output_tokens"}
    drawn: list[set[str]] = [cadence.tick(plots) for _ in range(40)]
    assert all(len(due) <= 1 for due in drawn)
    assert sum("loss" in due for due in drawn) == 20  # every other tick, as without a limit
    for plot in plots:  # every plot drawn again within 1.5 s (15 ticks of 100 ms)
        ticks = [n for n, due in enumerate(drawn) if plot in due]
        assert ticks and max(b - a for a, b in zip([0, *ticks], ticks, strict=False)) <= 15
    assert cadence.flush() <= plots and cadence.tick(set()) == set()  # nothing left over
