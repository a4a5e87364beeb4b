"""Compare page: accuracy and mean output tokens of every stage and baseline."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from twt_backend.errors import TwtError
from twt_gui.lazy_model import Column, LazySqlModel
from twt_gui.pages.base import Page
from twt_gui.pages.compare_ctl import CompareController, summary_cells
from twt_gui.session import ProjectSession
from twt_gui.widgets import EmptyState, StatePanel, table_view

COLOURS = ("#1a73e8", "#e8710a", "#12a14b", "#c5221f", "#9334e6", "#00897b", "#5f6368")
SUMMARY_HEADERS = (
    "Method",
    "Kind",
    "Queries",
    "Correct",
    "Accuracy",
    "95% interval",
    "vs stage 1 (McNemar)",
    "Δ accuracy vs best baseline",
    "vs best baseline (McNemar)",
    "Mean output tokens",
    "Median / p90 tokens",
    "Δ tokens",
    "Predicted answers",
)


class ComparePage(Page):
    title = "Compare"
    subtitle = (
        "Accuracy against output tokens: the goal is high accuracy with few tokens. "
        "Bars show each accuracy's 95% (Wilson) interval; p: McNemar's exact test on the "
        "common queries; ⚠ stale: outputs of an older adapter, compared with nothing."
    )

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.controller: CompareController | None = None
        self.run_label = QLabel("Run:")
        self.run_box = QComboBox()
        self.run_box.setToolTip("The named run (twt run --name) whose results are shown.")
        self.run_box.activated.connect(lambda _index: self.refresh())
        self.accuracy_plot = pg.PlotWidget(title="Accuracy")
        self.tokens_plot = pg.PlotWidget(title="Mean output tokens")
        self.scatter_plot = pg.PlotWidget(title="Accuracy vs output tokens")
        self.scatter_plot.setLabel("bottom", "mean output tokens")
        self.scatter_plot.setLabel("left", "accuracy")
        self.summary = QTableWidget(0, len(SUMMARY_HEADERS))
        self.summary.setHorizontalHeaderLabels(list(SUMMARY_HEADERS))
        self.summary.verticalHeader().setVisible(False)
        self.summary.horizontalHeader().setStretchLastSection(True)
        self.runs_table = QTableWidget(0, 0)  # every run side by side: method x run
        self.runs_table.setToolTip(
            "Every run of the project side by side: accuracy [95% interval] · mean output "
            "tokens of each method, each run compared within itself."
        )
        self.runs_table.verticalHeader().setVisible(False)
        self.runs_table.horizontalHeader().setStretchLastSection(True)
        self.tables = QTabWidget()
        self.tables.addTab(self.summary, "This run")
        self.tables.addTab(self.runs_table, "Runs side by side")
        self.model = LazySqlModel(
            (
                Column("id", "#", align_right=True),
                Column("source_id", "Source id"),
                Column("reference", "Reference"),
                Column("results", "Results"),
                Column("text", "Query"),
            )
        )
        self.queries = table_view()
        self.queries.setModel(self.model)
        self.queries.selectionModel().currentRowChanged.connect(self._drill)
        for column, width in enumerate((50, 110, 90, 260)):
            self.queries.setColumnWidth(column, width)
        self.answers = QPlainTextEdit(readOnly=True)
        self.answers.setPlaceholderText("Select a query to see what each stage answered.")
        self.export_button = QPushButton("Export report…")
        self.export_button.clicked.connect(self.export_dialog)
        self.common = QLabel(objectName="pageSubtitle")
        self.common.setWordWrap(True)
        self.export_status = QLabel(objectName="pageSubtitle")
        self.export_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        plots = QWidget()
        row = QHBoxLayout(plots)
        row.setContentsMargins(0, 0, 0, 0)
        for plot in (self.accuracy_plot, self.tokens_plot, self.scatter_plot):
            row.addWidget(plot)
        drill = QSplitter(Qt.Orientation.Horizontal)
        drill.addWidget(self.queries)
        drill.addWidget(self.answers)
        drill.setSizes([600, 500])
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(plots)
        splitter.addWidget(self.tables)
        splitter.addWidget(drill)
        splitter.setSizes([300, 150, 230])
        top = QHBoxLayout()
        top.addWidget(self.common, 1)
        top.addWidget(self.run_label)
        top.addWidget(self.run_box)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.export_status, 1)
        bottom.addWidget(self.export_button)
        layout.addLayout(bottom)
        self.panel = StatePanel(content, EmptyState("", ""))
        self.body.addWidget(self.panel, 1)
        self.refresh()

    def _chosen_run(self) -> str:
        return self.run_box.currentText() or "main"

    def _fill_runs(self) -> None:
        names = self.controller.run_names() if self.controller else []
        current = self.controller.run if self.controller else ""
        self.run_box.blockSignals(True)
        self.run_box.clear()
        self.run_box.addItems(names)
        self.run_box.setCurrentText(current)
        self.run_box.blockSignals(False)
        self.run_box.setVisible(len(names) > 1)  # a project without named runs: as before
        self.run_label.setVisible(len(names) > 1)

    def refresh(self) -> None:
        project = self.session.project
        if self.controller is not None:
            self.controller.close()
        self.controller = None
        if project:
            try:
                self.controller = CompareController(project, self._chosen_run())
            except TwtError:  # a run of the project shown before
                self.controller = CompareController(project)
        self._fill_runs()
        if self.controller is None:
            self.panel.show_empty(True, "No project open", "Open a project on the Projects page.")
            return
        try:
            rows = self.controller.comparison()
        except TwtError as exc:
            self.panel.show_empty(True, "Cannot compare", str(exc))
            return
        if not rows:
            self.panel.show_empty(
                True,
                "No evaluation results yet",
                "Evaluate the vanilla student (stage 0) and each trained stage from the "
                "Training page (or run the whole pipeline from Help ▸ Getting started); their "
                "accuracy and output tokens are compared here.",
            )
            return
        self.panel.show_empty(False)
        self.rows = rows
        self.common.setText(self._common_text(rows, self.controller.split_sizes()))
        self._plot(rows)
        self._fill_summary(rows)
        self._fill_runs_table()
        self.model.set_source(self.controller.queries())
        self.model.fetchMore()

    @staticmethod
    def _common_text(rows: list[dict[str, Any]], splits: dict[str, int] | None = None) -> str:
        current = [r for r in rows if not r.get("stale")]
        n = current[0]["n"] if current else 0
        partial = [r["method"] for r in current if r["n_total"] > n]
        text = f"Compared on the {n} test queries every method answered."
        if partial:
            text += f" {', '.join(partial)} answered more; those extra queries are left out."
        best = next((r for r in rows if r["best_baseline"]), None)
        if best is not None:
            text += f" Deltas are against the best baseline: {best['display']}."
        stale = [r["method"] for r in rows if r.get("stale")]
        if stale:
            text += (
                f" Stale (made by an older adapter or on changed data; evaluate again): "
                f"{', '.join(stale)}."
            )
        if splits:
            sizes = ", ".join(f"{name} {size}" for name, size in splits.items())
            text += f" Splits: {sizes}."
        return text

    def _plot(self, rows: list[dict[str, Any]]) -> None:
        xs = list(range(len(rows)))
        ticks = [[(i, r["method"]) for i, r in enumerate(rows)]]
        brushes = [COLOURS[i % len(COLOURS)] for i in xs]
        for plot, key in (
            (self.accuracy_plot, "accuracy"),
            (self.tokens_plot, "mean_output_tokens"),
        ):
            plot.clear()
            heights = [float(r[key] or 0) for r in rows]
            plot.addItem(pg.BarGraphItem(x=xs, height=heights, width=0.6, brushes=brushes))
            plot.getAxis("bottom").setTicks(ticks)
        self.accuracy_plot.addItem(self._interval_bars(xs, rows))
        self.accuracy_plot.setYRange(0, 1)
        self.scatter_plot.clear()
        self.scatter_plot.getAxis("left").enableAutoSIPrefix(False)
        most = max(float(r["mean_output_tokens"] or 0) for r in rows) or 1.0
        self.scatter_plot.setXRange(0, most * 1.25)
        self.scatter_plot.setYRange(0, 1.05)
        # a row without outputs (the majority class) has no tokens: a level line, not a point
        points = [i for i, r in enumerate(rows) if r["mean_output_tokens"] is not None]
        for i, r in enumerate(rows):
            if i in points:
                continue
            line = pg.InfiniteLine(
                pos=float(r["accuracy"] or 0),
                angle=0,
                pen=pg.mkPen(brushes[i], width=2, style=Qt.PenStyle.DashLine),
                label=r["method"],
                labelOpts={"position": 0.95, "color": brushes[i], "anchors": [(1, 1), (1, 1)]},
            )
            self.scatter_plot.addItem(line)
        tokens = [float(rows[i]["mean_output_tokens"]) for i in points]
        if points:
            chosen = [rows[i] for i in points]
            self.scatter_plot.addItem(self._interval_bars(tokens, chosen, beam=most * 0.02))
        for i, x in zip(points, tokens, strict=True):
            r = rows[i]
            y = float(r["accuracy"] or 0)
            self.scatter_plot.plot(
                [x], [y], pen=None, symbol="o", symbolSize=12, symbolBrush=brushes[i]
            )
            name = r["method"] + (" (stale)" if r.get("stale") else "")
            label = pg.TextItem(name, anchor=(0, 1), color=brushes[i])
            label.setPos(x, y)
            self.scatter_plot.addItem(label)

    @staticmethod
    def _interval_bars(
        xs: list[float] | list[int], rows: list[dict[str, Any]], beam: float = 0.15
    ) -> pg.ErrorBarItem:
        """Each accuracy's 95% Wilson interval as a vertical bar (none where unknown)."""
        accuracy = [float(r["accuracy"] or 0) for r in rows]
        low = [
            a - (r["ci_low"] if r.get("ci_low") is not None else a)
            for a, r in zip(accuracy, rows, strict=True)
        ]
        high = [
            (r["ci_high"] if r.get("ci_high") is not None else a) - a
            for a, r in zip(accuracy, rows, strict=True)
        ]
        return pg.ErrorBarItem(
            x=np.asarray(xs, dtype=float),
            y=np.asarray(accuracy),
            top=np.asarray(high),
            bottom=np.asarray(low),
            beam=beam,
            pen=pg.mkPen("#202124", width=1.5),
        )

    def _fill_summary(self, rows: list[dict[str, Any]]) -> None:
        self.summary.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, text in enumerate(summary_cells(r)):
                item = QTableWidgetItem(text)
                item.setToolTip(r["method"])
                self.summary.setItem(i, j, item)
        self.summary.resizeColumnsToContents()

    def _fill_runs_table(self) -> None:
        """The runs side by side, a tab shown only when the project has named runs."""
        assert self.controller is not None
        several = len(self.controller.run_names()) > 1
        self.tables.setTabVisible(1, several)
        self.tables.tabBar().setVisible(several)
        if not several:
            self.runs_table.setRowCount(0)
            return
        try:
            headers, lines = self.controller.runs_side_by_side()
        except TwtError as exc:
            headers, lines = ["Runs"], [[f"Cannot compare the runs: {exc}"]]
        self.runs_table.clear()
        self.runs_table.setColumnCount(len(headers))
        self.runs_table.setHorizontalHeaderLabels(headers)
        self.runs_table.setRowCount(len(lines))
        for i, line in enumerate(lines):
            for j, text in enumerate(line):
                self.runs_table.setItem(i, j, QTableWidgetItem(text))
        self.runs_table.resizeColumnsToContents()

    def runs_table_cells(self) -> list[list[str]]:
        """The side-by-side table as text, its header first."""
        table = self.runs_table
        headers = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
        return [headers] + [
            [table.item(i, j).text() for j in range(table.columnCount())]
            for i in range(table.rowCount())
        ]

    def summary_cells(self) -> list[list[str]]:
        return [
            [self.summary.item(i, j).text() for j in range(self.summary.columnCount())]
            for i in range(self.summary.rowCount())
        ]

    def _drill(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self.controller is None or not current.isValid():
            return
        row = self.model.row(current.row())
        parts = [f"Query {row['id']} — reference: {row['reference']}\n{row['text']}\n"]
        for answer in self.controller.answers(row["id"]):
            mark = {True: "correct", False: "wrong", None: "not scored"}[answer["correct"]]
            if answer.get("stale"):
                mark += ", stale: not of its current adapter or settings"
            parts.append(
                f"── {answer['display']} [{answer['method']}] ({mark}, {answer['tokens']} tokens)"
                f" answer: {answer['answer']}\n{(answer['output'] or '').strip()[:1500]}\n"
            )
        self.answers.setPlainText("\n".join(parts))

    def export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export report into")
        if folder:
            asyncio.ensure_future(self.export(Path(folder)))  # the app runs a qasync loop

    async def export(self, folder: Path) -> Path | None:
        """Write the report in a worker thread (matplotlib renders the plots there)."""
        if self.controller is None:
            return None
        self.export_button.setEnabled(False)
        self.export_status.setText(f"Writing the report into {folder}…")
        try:
            path = await asyncio.to_thread(self.controller.export, folder)
        except (TwtError, OSError) as exc:
            self.export_status.setText(f"Export failed: {exc}")
            return None
        finally:
            self.export_button.setEnabled(True)
        self.export_status.setText(f"Report written: {path}")
        return path
