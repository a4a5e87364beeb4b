"""Review detail pane: every teacher's output for one query side by side, and the
pairwise similarity matrix with the kept pair highlighted."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

KEPT_PAIR = QColor("#f5b942")
CURRENT = QColor("#1a73e8")


def similarity_colour(value: float) -> QColor:
    """Low similarity (diverse) green, high similarity red."""
    value = min(max(value, 0.0), 1.0)
    return QColor.fromHsvF(0.33 * (1.0 - value), 0.45, 0.95)


class SampleCard(QFrame):
    def __init__(self, sample: dict[str, Any], current: bool):
        super().__init__(objectName="card")
        self.generation_id = sample["id"]
        if current:
            self.setStyleSheet(f"QFrame#card {{ border: 2px solid {CURRENT.name()}; }}")
        layout = QVBoxLayout(self)
        confidence = sample["confidence"]
        conf_text = "—" if confidence is None else f"{confidence:.2f}"
        header = QLabel(
            f"<b>{sample['teacher']}</b> · #{sample['id']} · confidence <b>{conf_text}</b>"
            f" · {sample['parse_status']}<br>{sample['decision']}"
            + (f" · {sample['reason']}" if sample.get("reason") else "")
            + (f" · edited v{sample['edit_version']}" if sample.get("edit_version") else "")
        )
        header.setWordWrap(True)
        layout.addWidget(header)
        answer = QLabel(f"Answer: <b>{(sample['answer'] or '—')[:300]}</b>")
        answer.setWordWrap(True)
        answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(answer)
        rationale = QPlainTextEdit(sample["rationale"] or "")
        rationale.setReadOnly(True)
        layout.addWidget(rationale, 1)
        if sample.get("override_note"):
            layout.addWidget(QLabel(f"Note: {sample['override_note']}"))
        self.setMinimumWidth(280)


class ReviewDetail(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.query = QLabel("Select a row to see every teacher's output for its query.")
        self.query.setWordWrap(True)
        self.query.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cards_host = QWidget()
        self.cards = QHBoxLayout(self.cards_host)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.cards_host)
        self.matrix = QTableWidget()
        self.matrix.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.matrix_caption = QLabel()
        self.matrix_caption.setWordWrap(True)
        matrix_box = QWidget()
        box = QVBoxLayout(matrix_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(QLabel("<b>Rationale similarity</b> (cosine)"))
        box.addWidget(self.matrix, 1)
        box.addWidget(self.matrix_caption)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(scroll)
        splitter.addWidget(matrix_box)
        splitter.setSizes([400, 200])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.query)
        layout.addWidget(splitter, 1)
        self.kept_pair: list[int] | None = None

    def show_detail(self, detail: dict[str, Any], current_id: int | None) -> None:
        query = detail["query"]
        self.query.setText(
            f"<b>Query {query.get('id')}</b> ({query.get('source_id')}, {query.get('split')}):"
            f" {query.get('text', '')[:600]}<br>Reference: <b>{query.get('reference') or '—'}</b>"
        )
        while self.cards.count():
            item = self.cards.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for sample in detail["samples"]:
            self.cards.addWidget(SampleCard(sample, sample["id"] == current_id))
        self._show_matrix(detail["similarity"], current_id)

    def _show_matrix(self, sim: dict[str, Any], current_id: int | None) -> None:
        ids, matrix = sim["generation_ids"], sim["matrix"]
        self.kept_pair = sim["kept_pair"]
        labels = [f"{t} #{g}" for t, g in zip(sim["teachers"], ids, strict=True)]
        self.matrix.clear()
        self.matrix.setRowCount(len(ids))
        self.matrix.setColumnCount(len(ids))
        self.matrix.setHorizontalHeaderLabels(labels)
        self.matrix.setVerticalHeaderLabels(labels)
        kept = set(self.kept_pair or [])
        for i, a in enumerate(ids):
            for j, b in enumerate(ids):
                item = QTableWidgetItem(f"{matrix[i][j]:.3f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setForeground(QBrush(QColor("#111111")))
                in_pair = a != b and {a, b} == kept
                item.setBackground(KEPT_PAIR if in_pair else similarity_colour(matrix[i][j]))
                if in_pair or (current_id in (a, b) and a != b):
                    font = QFont()
                    font.setBold(True)
                    item.setFont(font)
                self.matrix.setItem(i, j, item)
        self.matrix.resizeColumnsToContents()
        if not ids:
            self.matrix_caption.setText(
                "No similarities for this query: the diversity step runs only when at least "
                "three teachers pass the quality threshold (run selection on the Labelling page)."
            )
        else:
            pair = " and ".join(f"#{g}" for g in self.kept_pair) if self.kept_pair else "none"
            self.matrix_caption.setText(f"Kept pair (least similar), highlighted: {pair}")

    def highlighted_cells(self) -> list[tuple[int, int]]:
        """Matrix cells painted as the kept pair (for tests)."""
        return [
            (i, j)
            for i in range(self.matrix.rowCount())
            for j in range(self.matrix.columnCount())
            if self.matrix.item(i, j).background().color() == KEPT_PAIR
        ]
