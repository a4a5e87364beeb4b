"""The getting-started guide: the demo's steps in order, what each page does, and buttons
that go to the page or start the step. Shown on first start; Help ▸ Getting started.

The window is passed in as a `GuideHost` (page lookup, navigation, the session), so the
guide is testable with the real main window and does not import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from twt_backend.errors import TwtError
from twt_gui.session import ProjectSession

SHOWN_KEY = "guide/shown"


class GuideHost(Protocol):
    session: ProjectSession

    def page(self, title: str) -> Any: ...

    def show_page(self, title: str) -> Any: ...


@dataclass(frozen=True)
class Step:
    page: str
    title: str
    text: str
    action: str | None = None  # label of the button that starts the step
    run: str | None = None  # GuideDialog method the action calls


STEPS = (
    Step("Projects", "1. The demo project",
         "30 math word problems (24 to distil, 6 held out for testing). It needs no API key "
         "and no GPU: three teachers replay stored answers, and the student is "
         "SmolLM2-135M with settings sized for minutes on a laptop CPU.",
         "Open the demo project", "open_demo"),
    Step("Setup", "2. Setup",
         "Teachers (provider, model, API key from an environment variable or the OS keyring, "
         "limits, prices) with Test connection; the selection threshold; the student, LoRA "
         "and training settings. A disabled local SmolLM2 teacher shows a model run on this "
         "machine."),
    Step("Labelling", "3. Labelling",
         "Every teacher answers every query with a rationale, an answer and a confidence. "
         "Then the selection (DCRS) keeps confident answers and, where three teachers agree "
         "to be confident, the two least similar rationales.",
         "Start labelling", "start_labelling"),
    Step("Review", "4. Review",
         "Curate the selection by hand: every teacher's output side by side, their "
         "similarities, accept (A) or reject (R), edit with history.",
         "Run the selection", "run_selection"),
    Step("Training", "5. Training, stage 1",
         "Stage 1 learns the full reasoning. Live loss, learning rate and tokens/s; runs go "
         "on when the app closes. Evaluate stage 0 (the untrained student) here too."),
    Step("Refinement", "6. Refinement",
         "The rationales are compressed, by a teacher that sees the stage-1 student's own "
         "answers or by a compressor (the demo replays one: no key needed). Review them "
         "side by side; accept, edit or redo."),
    Step("Training", "7. Training, stages 2 and 3",
         "Stage 2 learns the compressed reasoning, stage 3 the answer alone. Evaluate each "
         "stage on the test queries."),
    Step("Compare", "8. Compare",
         "Accuracy against output tokens for every stage and baseline, per-query answers, "
         "and the report to export."),
)  # fmt: skip


class GuideDialog(QDialog):
    def __init__(self, host: GuideHost, parent: QWidget | None = None):
        super().__init__(parent)
        self.host = host
        self.setWindowTitle("Getting started with TwT Studio")
        self.setObjectName("guide")
        self.resize(760, 640)
        intro = QLabel(
            "TwT Studio distils big teacher models into a small student that answers without "
            "writing out its reasoning. Follow the steps in order (each button takes you "
            "there), or run the whole pipeline at once and watch it on the pages.",
            wordWrap=True,
        )
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.go_buttons: dict[str, QPushButton] = {}
        self.action_buttons: dict[str, QPushButton] = {}
        for row, step in enumerate(STEPS):
            self._add_step(grid, row, step)
        steps = QWidget()
        steps.setLayout(grid)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(steps)
        self.pipeline_button = QPushButton("Run the whole pipeline", objectName="primary")
        self.pipeline_button.setToolTip(
            "Labelling, selection, three stages with refinement, evaluation: one resumable job "
            "(the same as `twt run DIR`)"
        )
        self.pipeline_button.clicked.connect(self.run_pipeline)
        self.status = QLabel(wordWrap=True, objectName="pageSubtitle")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.pipeline_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.status)
        layout.addWidget(buttons)

    def _add_step(self, grid: QGridLayout, row: int, step: Step) -> None:
        title = QLabel(f"<b>{step.title}</b>")
        text = QLabel(step.text, wordWrap=True)
        go = QPushButton(f"Go to {step.page}")
        go.clicked.connect(lambda _=False, page=step.page: self.go(page))
        self.go_buttons[step.title] = go
        grid.addWidget(title, 2 * row, 0, 1, 3)
        grid.addWidget(text, 2 * row + 1, 0, 1, 2)
        column = QVBoxLayout()
        column.addWidget(go)
        if step.action and step.run:
            action = QPushButton(step.action)
            action.clicked.connect(getattr(self, step.run))
            self.action_buttons[step.title] = action
            column.addWidget(action)
        grid.addLayout(column, 2 * row + 1, 2)

    # ---- actions -----------------------------------------------------------------------
    def go(self, page: str) -> None:
        self.host.show_page(page)

    def _guarded(self, what: str, action: Callable[[], object]) -> object:
        try:
            return action()
        except TwtError as exc:
            self.status.setText(f"{what}: {exc}")
            return None

    def open_demo(self) -> None:
        project = self._guarded("Demo project", self.host.page("Projects").controller.open_demo)
        if project is not None:
            self.status.setText(f"Demo project open: {self.host.session.root}")
            self.go("Projects")

    def _need_project(self) -> bool:
        if self.host.session.project is None:
            self.status.setText("Open a project first (step 1).")
            return False
        return True

    def start_labelling(self) -> None:
        if not self._need_project():
            return
        page = self.go_and_get("Labelling")
        job_id = page.start()
        if job_id is not None:
            self.status.setText(f"Labelling job {job_id} started; progress is on this page.")

    def run_selection(self) -> None:
        if not self._need_project():
            return
        self.go_and_get("Labelling").run_selection()
        self.status.setText("Selection started; its decisions appear on the Review page.")

    def run_pipeline(self) -> int | None:
        if not self._need_project():
            return None
        from twt_backend.ops.pipeline import default_options
        from twt_gui.pages.jobs_ctl import start_job

        project = self.host.session.project
        config = default_options()
        job_id = self._guarded("Pipeline", lambda: start_job(project, "pipeline", config))
        if isinstance(job_id, int):
            self.status.setText(
                f"Pipeline job {job_id} started. Each step is its own job: labelling shows on "
                "the Labelling page, the stages and evaluations on the Training page, the "
                f"results on Compare. From a terminal: `twt runs {project.root}`."
            )
            return job_id
        return None

    def go_and_get(self, page: str) -> Any:
        self.go(page)
        return self.host.page(page)
