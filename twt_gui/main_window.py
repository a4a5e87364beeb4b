"""The main window: a sidebar of pages over one shared project session."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from twt_gui.pages.base import Page
from twt_gui.pages.compare import ComparePage
from twt_gui.pages.labelling import LabellingPage
from twt_gui.pages.projects import ProjectsPage
from twt_gui.pages.refinement import RefinementPage
from twt_gui.pages.review import ReviewPage
from twt_gui.pages.setup import SetupPage
from twt_gui.pages.training import TrainingPage
from twt_gui.problems import ProblemsBanner, ProblemsModel
from twt_gui.session import ProjectSession
from twt_gui.style import THEMES, apply_theme, style_plots

PAGE_CLASSES: tuple[type[Page], ...] = (
    ProjectsPage,
    SetupPage,
    LabellingPage,
    ReviewPage,
    RefinementPage,
    TrainingPage,
    ComparePage,
)


class MainWindow(QMainWindow):
    def __init__(self, session: ProjectSession | None = None, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.session = session or ProjectSession(self)
        self.setWindowTitle("TwT Studio")
        self.sidebar = QListWidget(objectName="sidebar")
        self.stack = QStackedWidget()
        self.pages: list[Page] = []
        for cls in PAGE_CLASSES:
            page = cls(self.session, self.settings) if cls is ProjectsPage else cls(self.session)
            self.pages.append(page)
            self.stack.addWidget(page)
            self.sidebar.addItem(page.title)
        self.sidebar.setFixedWidth(170)
        self.sidebar.currentRowChanged.connect(self._show_page)
        self.problems = ProblemsModel(self.session)
        self.banner = ProblemsBanner(self.problems)
        self.banner.setup_button.clicked.connect(lambda: self.show_page("Setup"))
        self.guide: QWidget | None = None
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(0)
        right.addWidget(self.banner)
        right.addWidget(self.stack, 1)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addLayout(right, 1)
        self.setCentralWidget(central)
        self._build_menus()
        self.session.project_changed.connect(self._update_title)
        self._current: Page | None = None
        style_plots(self, str(self.settings.value("ui/theme", "light")))
        self.restore_layout()

    # ---- pages -------------------------------------------------------------------------
    def page(self, title: str) -> Page:
        return next(p for p in self.pages if p.title == title)

    def show_page(self, title: str) -> Page:
        page = self.page(title)
        if page is self._current:
            page.activated()
        else:
            self.sidebar.setCurrentRow(self.pages.index(page))
        return page

    def _show_page(self, row: int) -> None:
        if row < 0:
            return
        if self._current is not None:
            self._current.deactivated()
        self._current = self.pages[row]
        self.stack.setCurrentWidget(self._current)
        self.banner.show_page(self._current.title)
        self._current.activated()

    def _update_title(self) -> None:
        project = self.session.project
        self.setWindowTitle(f"{project.name} — TwT Studio" if project else "TwT Studio")
        self.statusBar().showMessage(str(project.root) if project else "No project open")

    # ---- menus -------------------------------------------------------------------------
    def _build_menus(self) -> None:
        projects = self.page("Projects")
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (
            ("&New project…", QKeySequence.StandardKey.New, projects.new_project),  # type: ignore[attr-defined]
            ("&Open project…", QKeySequence.StandardKey.Open, projects.open_dialog),  # type: ignore[attr-defined]
            ("&Import data…", "Ctrl+I", projects.import_dialog),  # type: ignore[attr-defined]
            ("Open &demo project", None, projects.open_demo),  # type: ignore[attr-defined]
        ):
            action = file_menu.addAction(text, slot)
            if shortcut is not None:
                action.setShortcut(shortcut)
        file_menu.addSeparator()
        file_menu.addAction("&Quit", QKeySequence.StandardKey.Quit, self.close)
        view_menu = self.menuBar().addMenu("&View")
        group = QActionGroup(self)
        current = str(self.settings.value("ui/theme", "light"))
        for theme in THEMES:
            action = QAction(f"{theme.title()} theme", self, checkable=True)
            action.setChecked(theme == current)
            action.triggered.connect(lambda _=False, t=theme: self.set_theme(t))
            group.addAction(action)
            view_menu.addAction(action)
        view_menu.addSeparator()
        for i, page in enumerate(self.pages):
            view_menu.addAction(
                page.title, f"Ctrl+{i + 1}", lambda r=i: self.sidebar.setCurrentRow(r)
            )
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&Getting started…", "F1", self.show_guide)
        help_menu.addAction("&Check this project…", self.show_problems)
        help_menu.addAction("&About TwT Studio", self.show_about)

    # ---- help --------------------------------------------------------------------------
    def show_guide(self) -> QWidget:
        from twt_gui.guide import GuideDialog

        if self.guide is None:
            self.guide = GuideDialog(self, self)
        self.guide.show()
        self.guide.raise_()
        return self.guide

    def show_first_run_guide(self) -> bool:
        """Show the guide once per user (QSettings flag); True when shown now."""
        from twt_gui.guide import SHOWN_KEY

        if str(self.settings.value(SHOWN_KEY, "false")).lower() == "true":
            return False
        self.settings.setValue(SHOWN_KEY, "true")
        self.show_guide()
        return True

    def show_problems(self) -> QMessageBox:
        from twt_gui.problems import problems_html

        self.problems.recheck()
        box = QMessageBox(self)
        box.setWindowTitle("Project check")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(problems_html(self.problems.problems, self.session.project is not None))
        box.open()
        return box

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About TwT Studio",
            "TwT Studio distils teacher LLMs into a small student that answers without "
            "writing out its reasoning (TwT: Thinking without Tokens, Xu et al., 2025).",
        )

    def set_theme(self, theme: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        style_plots(self, theme)
        self.settings.setValue("ui/theme", theme)
        for page in self.pages:
            page.refresh()

    # ---- layout ------------------------------------------------------------------------
    def restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        row = int(self.settings.value("window/page", 0) or 0)
        self.sidebar.setCurrentRow(row if 0 <= row < len(self.pages) else 0)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/page", self.sidebar.currentRow())
        for page in self.pages:
            save = getattr(page, "save_layout", None)
            if save:
                save(self.settings)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        for page in self.pages:
            page.deactivated()
        super().closeEvent(event)
