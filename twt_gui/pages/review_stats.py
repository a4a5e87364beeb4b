"""Review statistics: per-teacher confidence histograms and the calibration view."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QTableWidget, QTableWidgetItem, QWidget

PALETTE = ("#1a73e8", "#e8710a", "#12a14b", "#c5221f", "#9334e6", "#00897b", "#5f6368")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


class ReviewStats(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.histogram = pg.PlotWidget(title="Confidence per teacher")
        self.histogram.addLegend(offset=(10, 10))
        self.histogram.setLabel("bottom", "confidence")
        self.histogram.setLabel("left", "outputs")
        self.calibration = pg.PlotWidget(title="Calibration: accuracy by confidence")
        self.calibration.setLabel("bottom", "confidence")
        self.calibration.setLabel("left", "accuracy")
        self.calibration.setYRange(0, 1)
        self.calibration.addLegend(offset=(10, 10))
        self.table = QTableWidget()
        layout = QHBoxLayout(self)
        layout.addWidget(self.histogram, 3)
        layout.addWidget(self.calibration, 3)
        layout.addWidget(self.table, 2)

    def show_stats(
        self, hists: dict[str, dict[str, Any]], calibration: list[dict[str, Any]]
    ) -> None:
        self.histogram.clear()
        n = max(len(hists), 1)
        for k, (teacher, h) in enumerate(hists.items()):
            edges = h["edges"]
            width = (edges[1] - edges[0]) / (n + 1)
            xs = [edges[i] + width * (k + 0.5) for i in range(len(h["counts"]))]
            colour = PALETTE[k % len(PALETTE)]
            bars = pg.BarGraphItem(
                x=xs, height=h["counts"], width=width, brush=colour, name=teacher
            )
            self.histogram.addItem(bars)
        self.calibration.clear()
        self.calibration.plot(
            [0, 1], [0, 1], pen=pg.mkPen("#999", style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        points = [r for r in calibration if r["accuracy"] is not None]
        if points:
            xs = [(r["low"] + r["high"]) / 2 for r in points]
            self.calibration.plot(
                xs, [r["accuracy"] for r in points], pen=PALETTE[0], symbol="o", name="all teachers"
            )
        headers = ["confidence", "n", "accuracy", "kept acc.", "rejected acc."]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(calibration))
        for i, r in enumerate(calibration):
            cells = [
                f"{r['low']:.1f}–{r['high']:.1f}",
                str(r["n"]),
                _fmt(r["accuracy"]),
                _fmt(r["kept_accuracy"]),
                _fmt(r["rejected_accuracy"]),
            ]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
