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
