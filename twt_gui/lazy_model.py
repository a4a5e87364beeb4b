"""A table model over the store that fetches rows in batches (canFetchMore / fetchMore).

Rows come from a `RowSource`: a callable `fetch(after_id, limit)` returning dicts with an
`id` key in ascending id order (keyset paging), so a 100k-row table opens instantly and
scrolling never re-reads what it has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

RowSource = Callable[[int, int], list[dict[str, Any]]]
ModelIndex = QModelIndex | QPersistentModelIndex
DISPLAY_CHARS = 160


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    align_right: bool = False


def display_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value).replace("\n", " ")
    return text if len(text) <= DISPLAY_CHARS else text[: DISPLAY_CHARS - 1] + "…"


class LazySqlModel(QAbstractTableModel):
    def __init__(self, columns: Sequence[Column], batch_size: int = 200, parent: Any = None):
        super().__init__(parent)
        self.columns = list(columns)
        self.batch_size = batch_size
        self._rows: list[dict[str, Any]] = []
        self._source: RowSource | None = None
        self._exhausted = True

    # ---- source ------------------------------------------------------------------------
    def set_source(self, source: RowSource | None) -> None:
        self.beginResetModel()
        self._rows = []
        self._source = source
        self._exhausted = source is None
        self.endResetModel()

    def reload(self) -> None:
        """Re-read from the start, keeping as many rows as were loaded."""
        wanted = max(len(self._rows), self.batch_size)
        self.set_source(self._source)
        while not self._exhausted and len(self._rows) < wanted:
            self.fetchMore(QModelIndex())

    def row(self, index: int) -> dict[str, Any]:
        return self._rows[index]

    def loaded_ids(self) -> list[int]:
        return [int(r["id"]) for r in self._rows]

    def find_row(self, row_id: int) -> int:
        for i, row in enumerate(self._rows):
            if row["id"] == row_id:
                return i
        return -1

    # ---- lazy loading ------------------------------------------------------------------
    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self._exhausted or self._source is None:
            return
        after = int(self._rows[-1]["id"]) if self._rows else 0
        batch = self._source(after, self.batch_size)
        if len(batch) < self.batch_size:
            self._exhausted = True
        if batch:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(batch) - 1)
            self._rows.extend(batch)
            self.endInsertRows()

    # ---- table -------------------------------------------------------------------------
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        value = self._rows[index.row()].get(column.key)
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(value)
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(value, str) and len(value) > 60:
            return value[:2000]
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return value
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].title
        return None
