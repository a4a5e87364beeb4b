"""Small shared widgets: empty states, page headers, table views."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)


class EmptyState(QWidget):
    """A centred message saying what is missing and what to do next, with an optional action."""

    def __init__(self, title: str, hint: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.title = QLabel(title, objectName="emptyTitle")
        self.hint = QLabel(hint, objectName="emptyHint")
        self.hint.setWordWrap(True)
        for label in (self.title, self.hint):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.actions = QHBoxLayout()
        self.actions.addStretch()
        self.actions.addStretch()
        column = QWidget()
        column.setMaximumWidth(600)
        inner = QVBoxLayout(column)
        inner.addWidget(self.title)
        inner.addWidget(self.hint)
        inner.addSpacing(8)
        inner.addLayout(self.actions)
        row = QHBoxLayout()
        row.addStretch()
        row.addWidget(column, 10)
        row.addStretch()
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addLayout(row)
        layout.addStretch(3)

    def set_text(self, title: str, hint: str) -> None:
        self.title.setText(title)
        self.hint.setText(hint)

    def add_action(self, text: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.clicked.connect(slot)
        self.actions.insertWidget(self.actions.count() - 1, button)
        return button


class StatePanel(QStackedWidget):
    """Shows either the content or an empty state."""

    def __init__(self, content: QWidget, empty: EmptyState, parent: QWidget | None = None):
        super().__init__(parent)
        self.content = content
        self.empty = empty
        self.addWidget(content)
        self.addWidget(empty)

    def show_empty(self, empty: bool, title: str | None = None, hint: str | None = None) -> None:
        if title is not None and hint is not None:
            self.empty.set_text(title, hint)
        self.setCurrentWidget(self.empty if empty else self.content)

    @property
    def is_empty(self) -> bool:
        return self.currentWidget() is self.empty


def page_header(title: str, subtitle: str = "") -> QWidget:
    header = QWidget(objectName="pageHeader")
    layout = QVBoxLayout(header)
    layout.setContentsMargins(0, 0, 0, 6)
    layout.addWidget(QLabel(title, objectName="pageTitle"))
    if subtitle:
        sub = QLabel(subtitle, objectName="pageSubtitle")
        sub.setWordWrap(True)
        layout.addWidget(sub)
    return header


def table_view(parent: QWidget | None = None) -> QTableView:
    view = QTableView(parent)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(24)
    view.horizontalHeader().setStretchLastSection(True)
    view.setWordWrap(False)
    return view
