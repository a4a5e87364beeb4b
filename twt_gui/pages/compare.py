"""Compare page: accuracy and mean output tokens of every stage and baseline."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twt_gui.lazy_model import Column, LazySqlModel
from twt_gui.pages.base import Page
from twt_gui.pages.compare_ctl import CompareController
from twt_gui.session import ProjectSession
from twt_gui.widgets import EmptyState, StatePanel, table_view

COLOURS = ("#1a73e8", "#e8710a", "#12a14b", "#c5221f", "#9334e6", "#00897b", "#5f6368")
SUMMARY_HEADERS = ("Method", "Queries", "Correct", "Accuracy", "Mean output tokens")


class ComparePage(Page):
    title = "Compare"
    subtitle = "Accuracy against output tokens: the goal is high accuracy with few tokens."

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.controller: CompareController | None = None
        self.accuracy_plot = pg.PlotWidget(title="Accuracy")
        self.tokens_plot = pg.PlotWidget(title="Mean output tokens")
        self.scatter_plot = pg.PlotWidget(title="Accuracy vs output tokens")
        self.scatter_plot.setLabel("bottom", "mean output tokens")
        self.scatter_plot.setLabel("left", "accuracy")
        self.summary = QTableWidget(0, len(SUMMARY_HEADERS))
        self.summary.setHorizontalHeaderLabels(list(SUMMARY_HEADERS))
        self.summary.verticalHeader().setVisible(False)
        self.summary.horizontalHeader().setStretchLastSection(True)
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
        export = QPushButton("Export report…")
        export.clicked.connect(self.export_dialog)
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
        splitter.addWidget(self.summary)
        splitter.addWidget(drill)
        splitter.setSizes([300, 130, 250])
        layout.addWidget(splitter, 1)
        layout.addWidget(export, 0, Qt.AlignmentFlag.AlignRight)
        self.panel = StatePanel(content, EmptyState("", ""))
        self.body.addWidget(self.panel, 1)
        self.refresh()

    def refresh(self) -> None:
        project = self.session.project
        self.controller = CompareController(project) if project else None
        if self.controller is None:
            self.panel.show_empty(True, "No project open", "Open a project on the Projects page.")
            return
        rows = self.controller.summary()
        if not rows:
            self.panel.show_empty(
                True,
                "No evaluation results yet",
                "Evaluate the vanilla student (stage 0) and each trained stage from the "
                "Training page; their accuracy and output tokens are compared here.",
            )
            return
        self.panel.show_empty(False)
        self.rows = rows
        self._plot(rows)
        self._fill_summary(rows)
        self.model.set_source(self.controller.queries())
        self.model.fetchMore()

    def _plot(self, rows: list[dict]) -> None:
        xs = list(range(len(rows)))
        ticks = [[(i, r["method"]) for i, r in enumerate(rows)]]
        brushes = [COLOURS[i % len(COLOURS)] for i in xs]
        for plot, key in ((self.accuracy_plot, "accuracy"), (self.tokens_plot, "mean_tokens")):
            plot.clear()
            heights = [float(r[key] or 0) for r in rows]
            plot.addItem(pg.BarGraphItem(x=xs, height=heights, width=0.6, brushes=brushes))
            plot.getAxis("bottom").setTicks(ticks)
        self.accuracy_plot.setYRange(0, 1)
        self.scatter_plot.clear()
        self.scatter_plot.getAxis("left").enableAutoSIPrefix(False)
        most = max(float(r["mean_tokens"] or 0) for r in rows) or 1.0
        self.scatter_plot.setXRange(0, most * 1.25)
        self.scatter_plot.setYRange(0, 1.05)
        for i, r in enumerate(rows):
            x, y = float(r["mean_tokens"] or 0), float(r["accuracy"] or 0)
            self.scatter_plot.plot(
                [x], [y], pen=None, symbol="o", symbolSize=12, symbolBrush=brushes[i]
            )
            label = pg.TextItem(r["method"], anchor=(0, 1), color=brushes[i])
            label.setPos(x, y)
            self.scatter_plot.addItem(label)

    def _fill_summary(self, rows: list[dict]) -> None:
        self.summary.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cells = (
                r["method"],
                str(r["n"]),
                str(r["correct"] or 0),
                f"{(r['accuracy'] or 0):.1%}",
                f"{(r['mean_tokens'] or 0):.1f}",
            )
            for j, text in enumerate(cells):
                self.summary.setItem(i, j, QTableWidgetItem(text))

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
            mark = "correct" if answer["correct"] else "wrong"
            parts.append(
                f"── {answer['method']} ({mark}, {answer['tokens']} tokens) answer: {answer['answer']}\n"
                f"{(answer['output'] or '').strip()[:1500]}\n"
            )
        self.answers.setPlainText("\n".join(parts))

    def export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export report into")
        if folder and self.controller is not None:
            self.controller.export(Path(folder))
