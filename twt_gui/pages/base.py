"""The page interface the main window drives."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from twt_gui.session import ProjectSession
from twt_gui.widgets import page_header


class Page(QWidget):
    """A sidebar page. Subclasses fill `self.body` and override `refresh`."""

    title = ""
    subtitle = ""

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.setObjectName(f"page-{self.title.lower()}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.addWidget(page_header(self.title, self.subtitle))
        self.body = QVBoxLayout()
        layout.addLayout(self.body, 1)
        session.project_changed.connect(self.refresh)

    def refresh(self) -> None:
        """Re-read what the page shows from the store (cheap queries only)."""

    def activated(self) -> None:
        """The page became visible."""
        self.refresh()

    def deactivated(self) -> None:
        """The page was hidden: stop polling."""
