"""Training page: launch HaRD stages and baselines, evaluate them; live loss, learning rate,
tokens/s, and the live evaluation's accuracy and output tokens; the followed run's phase,
step k of N, elapsed and ETA.

Cadence: new metrics are read at 10 Hz and the plots redrawn through `twt_gui.live_plot`
(stepped x and y ranges; the loss at 5 Hz, learning rate and throughput at 2 Hz;
everything pending when a run ends); the run list, the header, the progress bar and the log at 1 Hz, from one read
of the job rows.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from twt_backend.config import LaunchConfig
from twt_backend.errors import TwtError
from twt_backend.ops import jobs
from twt_gui.live_plot import RedrawCadence, follow_x, follow_y
from twt_gui.pages.base import Page
from twt_gui.pages.jobs_ctl import cancel_job
from twt_gui.pages.training_ctl import (
    BASELINES,
    EVAL_TARGETS,
    MetricSeries,
    TrainingController,
    header_html,
    plot_of,
    target_label,
)
from twt_gui.session import ProjectSession
from twt_gui.widgets import EmptyState, StatePanel

POLL_MS = 100  # reads new metrics at 10 Hz
STATUS_EVERY = 10  # ticks between reads of the runs, the header and the log (1 Hz)
FIXED_Y = ("accuracy",)  # plots whose y range is set once (0..1)
PREPARED_CURVES = (
    "loss",
    "eval_loss",
    "learning_rate",
    "tokens_per_s",
    "eval_accuracy",
    "eval_output_tokens",
)
COLOURS = ("#1a73e8", "#e8710a", "#12a14b", "#c5221f", "#9334e6")


class TrainingPage(Page):
    title = "Training"
    subtitle = (
        "Habitual Reasoning Distillation: stage 1 full reasoning, 2 compressed, 3 answer only."
    )

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.controller: TrainingController | None = None
        self.series: MetricSeries | None = None
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._in_legend: set[str] = set()  # curves shown in their legend (they have points)
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.cadence = RedrawCadence(per_tick=1)
        self._ticks = 0
        self._status_tick = 0
        self._log_version: tuple[int, ...] = ()
        self._known_runs: set[int] = set()
        self._followed_active = False
        content = QWidget()
        layout = QHBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_left(), 0)
        layout.addWidget(self._build_right(), 1)
        self.panel = StatePanel(content, EmptyState("", ""))
        self.body.addWidget(self.panel, 1)
        self.refresh()

    def _build_left(self) -> QWidget:
        left = QWidget()
        left.setFixedWidth(330)
        layout = QVBoxLayout(left)
        layout.setContentsMargins(0, 0, 0, 0)
        box = QGroupBox("Launch")
        grid = QGridLayout(box)
        self.what = QComboBox()
        for stage in (1, 2, 3, 4):
            self.what.addItem(f"Train stage {stage}", ("train", stage))
        for name, title in BASELINES.items():
            self.what.addItem(f"Train baseline: {title} ({name})", ("train", name))
        for target in EVAL_TARGETS:
            self.what.addItem(f"Evaluate {target_label(target)}", ("eval", target))
        self.launcher = QComboBox()
        self.launcher.addItem("Single process", "single")
        self.launcher.addItem("N GPUs (torchrun)", "torchrun")
        self.launcher.addItem("accelerate launch", "accelerate")
        self.nproc = QSpinBox(minimum=1, maximum=64)
        self.nnodes = QSpinBox(minimum=1, maximum=1024)
        self.node_rank = QSpinBox(minimum=0, maximum=1023)
        self.master_addr = QLineEdit("127.0.0.1")
        rows = (
            ("Run", self.what),
            ("Launcher", self.launcher),
            ("Processes/node", self.nproc),
            ("Nodes", self.nnodes),
            ("Node rank", self.node_rank),
            ("Master addr", self.master_addr),
        )
        for i, (label, widget) in enumerate(rows):
            grid.addWidget(QLabel(label), i, 0)
            grid.addWidget(widget, i, 1)
        self.start_button = QPushButton("Start", objectName="primary")
        self.start_button.clicked.connect(self.start)
        grid.addWidget(self.start_button, len(rows), 0, 1, 2)
        layout.addWidget(box)
        self.new_run_button = QPushButton("New run (ablation)…")
        self.new_run_button.setToolTip(
            "Start a named run of the project (twt run --name): without the compression "
            "stage, four stages, a subset of the teachers, another selection or refinement."
        )
        self.new_run_button.clicked.connect(self.new_run_dialog)
        layout.addWidget(self.new_run_button)
        layout.addWidget(self._build_baselines())
        layout.addWidget(QLabel("<b>Runs</b> (they go on when the app closes)"))
        self.runs = QListWidget()
        self.runs.currentItemChanged.connect(lambda *_: self.follow_selected())
        layout.addWidget(self.runs, 1)
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.clicked.connect(self.cancel)
        layout.addWidget(self.cancel_button)
        return left

    def _build_baselines(self) -> QWidget:
        """One click per baseline: train it from the base student, or evaluate it."""
        box = QGroupBox("Baselines")
        grid = QGridLayout(box)
        self.baseline_buttons: dict[tuple[str, int | str], QPushButton] = {}
        actions = [("eval", 0, "Evaluate vanilla"), ("eval", 1, "Evaluate SFT (stage 1)")]
        for name in BASELINES:
            actions += [
                ("train", name, f"Train {name.upper()}"),
                ("eval", name, f"Evaluate {name.upper()}"),
            ]
        for i, (kind, target, text) in enumerate(actions):
            button = QPushButton(text)
            button.setToolTip(
                f"{'Train' if kind == 'train' else 'Evaluate'} {target_label(target)}"
                + (f": {BASELINES[target]}" if isinstance(target, str) else "")
            )
            button.clicked.connect(lambda _=False, k=kind, t=target: self.launch(k, t))
            grid.addWidget(button, i // 2, i % 2)
            self.baseline_buttons[(kind, target)] = button
        return box

    def _build_right(self) -> QWidget:
        # The header and the progress bar keep their size whatever they show: a change of
        # size would re-lay out and repaint every plot (a stall of the main thread).
        self.run_status = QLabel("Select a run to see its curves.")
        self.run_status.setWordWrap(True)
        self.run_status.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.run_status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.run_status.setFixedHeight(self.run_status.fontMetrics().lineSpacing() * 3 + 4)
        self.run_progress = QProgressBar()
        self.run_progress.setTextVisible(True)
        policy = self.run_progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.run_progress.setSizePolicy(policy)
        self.run_progress.hide()
        self.loss_plot = self._plot("Loss", "loss")
        self.lr_plot = self._plot("Learning rate", "lr")
        self.tps_plot = self._plot("Throughput", "tokens/s")
        self.accuracy_plot = self._plot("Validation accuracy (live)", "accuracy")
        self.accuracy_plot.setYRange(0.0, 1.0)
        self.output_tokens_plot = self._plot("Validation output tokens (live)", "mean tokens")
        self.plots = {
            "loss": self.loss_plot,
            "lr": self.lr_plot,
            "throughput": self.tps_plot,
            "accuracy": self.accuracy_plot,
            "output_tokens": self.output_tokens_plot,
        }
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(2000)
        small = QWidget()
        row = QHBoxLayout(small)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.lr_plot)
        row.addWidget(self.tps_plot)
        live = QWidget()
        live_row = QHBoxLayout(live)
        live_row.setContentsMargins(0, 0, 0, 0)
        live_row.addWidget(self.accuracy_plot)
        live_row.addWidget(self.output_tokens_plot)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.loss_plot)
        splitter.addWidget(live)
        splitter.addWidget(small)
        splitter.addWidget(self.log)
        splitter.setSizes([260, 180, 160, 120])
        right = QWidget()
        layout = QVBoxLayout(right)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.run_status)
        layout.addWidget(self.run_progress)
        layout.addWidget(splitter, 1)
        return right

    @staticmethod
    def _plot(title: str, unit: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(title=title)
        plot.setLabel("bottom", "step")
        plot.setLabel("left", unit)
        # a grid item in the view, not the axes' grid (showGrid): that one makes every paint
        # of a growing curve cost ~30 ms instead of ~2 ms (measured: benchmarks/README.md)
        plot.addItem(pg.GridItem(pen=pg.mkPen(128, 128, 128, 90), textPen=None), ignoreBounds=True)
        plot.addLegend(offset=(-10, 10))
        return plot

    # ---- state -------------------------------------------------------------------------
    def refresh(self) -> None:
        project = self.session.project
        self.controller = TrainingController(project) if project else None
        self.series = None
        self._clear_plots()
        if self.controller is None:
            self.panel.show_empty(True, "No project open", "Open a project on the Projects page.")
            return
        self.panel.show_empty(False)
        self.controller.reattach()
        _, _, launch = self.controller.settings()
        self.launcher.setCurrentIndex(max(self.launcher.findData(launch.launcher), 0))
        self.nproc.setValue(launch.nproc)
        self.nnodes.setValue(launch.nnodes)
        self.node_rank.setValue(launch.node_rank)
        self.master_addr.setText(launch.master_addr)
        self.reload_runs()

    def reload_runs(self, select: int | None = None) -> None:
        assert self.controller is not None
        current = select if select is not None else (self.series.job_id if self.series else None)
        rows = self.controller.runs()
        self._known_runs = {row["id"] for row in rows}
        self.runs.blockSignals(True)
        self.runs.clear()
        for run in rows:
            item = QListWidgetItem(run["label"])
            item.setData(Qt.ItemDataRole.UserRole, run["id"])
            self.runs.addItem(item)
            if run["id"] == current:
                self.runs.setCurrentItem(item)
        self.runs.blockSignals(False)
        if self.runs.currentItem() is None and self.runs.count():
            self.runs.setCurrentRow(0)
        self.follow_selected()
        if not self.runs.count():
            self.run_progress.hide()
            self.run_status.setText(
                "No runs yet. Choose a stage and press Start (training needs the selected "
                "samples from the Review page), or evaluate the vanilla student as a baseline."
            )

    def follow(self, job_id: int) -> None:
        assert self.controller is not None
        if self.series and self.series.job_id == job_id:
            return
        self.series = MetricSeries(self.controller.project, job_id)
        self.cadence = RedrawCadence(per_tick=1)
        self._log_version = ()
        self._clear_plots()
        self._prepare_curves()
        self.series.poll()
        self.redraw(set(self.plots))
        self.refresh_status()

    def follow_selected(self) -> None:
        item = self.runs.currentItem()
        if item is not None:
            self.follow(int(item.data(Qt.ItemDataRole.UserRole)))

    def _clear_plots(self) -> None:
        for name, curve in self.curves.items():  # curves and their legend entries, not grids
            plot = plot_of(name)
            if plot is not None:
                self.plots[plot].removeItem(curve)
        for name, plot in self.plots.items():
            plot.getViewBox().enableAutoRange(x=True, y=name not in FIXED_Y)
        self.curves.clear()
        self._in_legend = set()

    def activated(self) -> None:
        self.refresh()
        self.timer.start()

    def deactivated(self) -> None:
        self.timer.stop()

    # ---- polling -----------------------------------------------------------------------
    def poll(self, force_log: bool = False) -> None:
        """One tick (10 Hz): new metrics, the plots whose turn it is, and once a second the
        status. `force_log`: catch up at once (every pending plot, and the status)."""
        if self.controller is None:
            return
        self._ticks += 1
        if self.series is None:  # no run yet: the first one (e.g. a pipeline's) is followed
            if force_log or self._ticks % STATUS_EVERY == 0:
                if self.controller.runs():
                    self.reload_runs()
            return
        grown = {plot for plot in map(plot_of, self.series.poll()) if plot}
        due = self.cadence.tick(grown)
        if force_log:
            due |= self.cadence.flush()
        if due:
            self.redraw(due)
        # the status read once a second, at a tick with no paint of a slow plot
        if force_log or (
            self._ticks - self._status_tick >= STATUS_EVERY and not self.cadence.busy()
        ):
            self.refresh_status()

    def refresh_status(self) -> None:
        """The run list, the header, the progress bar and the log, from one read of the job
        rows; a new run (a pipeline's next stage) is followed when the followed one ended;
        when the followed run ends, every pending plot is drawn."""
        if self.controller is None or self.series is None:
            return
        self._status_tick = self._ticks
        rows = self.controller.runs()
        new = [row for row in rows if row["id"] not in self._known_runs]
        self._known_runs |= {row["id"] for row in new}
        followed = next((row for row in rows if row["id"] == self.series.job_id), None)
        if followed is None:
            return
        active = followed["status"] in jobs.ACTIVE
        fresh = next((row for row in new if row["status"] in jobs.ACTIVE), None)
        if fresh is not None and not active:
            self.reload_runs(select=fresh["id"])  # follows it
            return
        self._update_list(rows)
        if self._followed_active and not active:
            self.redraw(self.cadence.flush() | set(self.plots))
        self._followed_active = active
        self.run_status.setText(header_html(followed, self.series))
        self._show_progress(followed)
        self.cancel_button.setEnabled(active)
        version = (followed["id"], *self.controller.log_version(followed["id"]))
        if version != self._log_version:  # read and lay out the log only when it grew
            self._log_version = version
            self.log.setPlainText(self.controller.log(followed["id"]))
            self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())

    def _update_list(self, rows: list[dict[str, Any]]) -> None:
        """Labels in place; runs that appeared since go on top (newest first)."""
        items = {
            int(self.runs.item(i).data(Qt.ItemDataRole.UserRole)): self.runs.item(i)
            for i in range(self.runs.count())
        }
        self.runs.blockSignals(True)
        for position, row in enumerate(rows):
            item = items.get(row["id"])
            if item is None:
                item = QListWidgetItem(row["label"])
                item.setData(Qt.ItemDataRole.UserRole, row["id"])
                self.runs.insertItem(position, item)
            elif item.text() != row["label"]:
                item.setText(row["label"])
        self.runs.blockSignals(False)

    def _show_progress(self, row: dict[str, Any]) -> None:
        assert self.controller is not None
        bar = self.controller.readable(row).main_bar()
        if bar is None or not bar.total:
            self.run_progress.hide()
            return
        self.run_progress.setRange(0, bar.total)
        self.run_progress.setValue(min(bar.done, bar.total))
        self.run_progress.setFormat(bar.count())
        self.run_progress.show()

    def redraw(self, plots: set[str] | None = None) -> None:
        """Redraw the curves of `plots` (None: all), creating curves of new metrics; the x
        and y ranges of each redrawn plot step to nice bounds around its points."""
        assert self.series is not None
        plots = set(self.plots) if plots is None else plots
        last_x: dict[str, float] = {}
        values: dict[str, list[float]] = {}
        for name, (xs, ys) in sorted(self.series.series.items()):
            plot = plot_of(name)
            if plot is None or (plot not in plots and name in self.curves):
                continue
            curve = self.curves.get(name) or self._add_curve(name, plot)
            curve.setData(xs, ys)
            if xs:
                if name not in self._in_legend:  # a prepared curve got its first points
                    self._in_legend.add(name)
                    self.plots[plot].getPlotItem().legend.addItem(curve, name)
                last_x[plot] = max(last_x.get(plot, 0.0), xs[-1])
                values.setdefault(plot, []).extend(self.series.bounds[name])
        for plot, x in last_x.items():  # one range per plot, over all its curves
            follow_x(self.plots[plot], x)
            if plot not in FIXED_Y:
                follow_y(self.plots[plot], values[plot])

    def _add_curve(self, name: str, plot: str) -> pg.PlotDataItem:
        """An empty curve of metric `name`, outside the legend until it has points."""
        colour = COLOURS[len(self.curves) % len(COLOURS)]
        if name.startswith("eval"):  # evaluation points; live accuracy/tokens joined
            pen = pg.mkPen(colour, width=1) if plot != "loss" else None
            curve = self.plots[plot].plot(pen=pen, symbol="o", symbolBrush=colour, symbolSize=8)
        else:
            curve = self.plots[plot].plot(pen=pg.mkPen(colour, width=2))
        self.curves[name] = curve
        return curve

    def _prepare_curves(self) -> None:
        """The curves every training run draws, made when a run is followed: making one
        mid-run (the first validation point) would stall the GUI for a paint."""
        for name in PREPARED_CURVES:
            plot = plot_of(name)
            if plot is not None and name not in self.curves:
                self._add_curve(name, plot)

    def points(self, name: str) -> int:
        """How many points the curve of a metric shows (for tests and benchmarks)."""
        curve = self.curves.get(name)
        return 0 if curve is None or curve.xData is None else len(curve.xData)

    # ---- actions -----------------------------------------------------------------------
    def launch_config(self) -> LaunchConfig:
        assert self.controller is not None
        _, _, saved = self.controller.settings()
        return LaunchConfig(
            **{
                **saved.__dict__,
                "launcher": self.launcher.currentData(),
                "nproc": self.nproc.value(),
                "nnodes": self.nnodes.value(),
                "node_rank": self.node_rank.value(),
                "master_addr": self.master_addr.text().strip() or "127.0.0.1",
            }
        )

    def new_run_dialog(self) -> Any:
        """Open the "New run (ablation)" dialog (not modal); the dialog, or None."""
        from twt_backend.ops.teachers import teacher_names
        from twt_gui.pages.run_dialog import NewRunDialog

        project = self.session.project
        if project is None:
            return None
        dialog = NewRunDialog(project.root, teacher_names(project), self)
        dialog.accepted.connect(lambda: self._run_started(dialog))
        dialog.open()
        return dialog

    def _run_started(self, dialog: Any) -> None:
        started = dialog.started
        if started is None:
            return
        verb = "resumed" if started.resumed else "started"
        self.run_status.setText(
            f"Run <b>{started.name}</b> {verb}: pipeline job {started.job_id} in "
            f"{started.root}. Its results appear on the Compare page (run {started.name})."
        )

    def start(self) -> int | None:
        kind, target = self.what.currentData()
        return self.launch(kind, target)

    def launch(self, kind: str, target: int | str) -> int | None:
        """Start training (a stage or a baseline) or an evaluation; the job id."""
        if self.controller is None:
            return None
        try:
            if kind == "train":
                job_id = self.controller.start_training(target, self.launch_config())
            else:
                job_id = self.controller.start_eval(target)
        except TwtError as exc:
            QMessageBox.warning(self, "Training", str(exc))
            return None
        self.reload_runs(select=job_id)
        self.timer.start()
        return job_id

    @asyncSlot()
    async def cancel(self) -> None:
        if self.series is None or self.session.root is None:
            return
        self.cancel_button.setEnabled(False)
        try:
            await asyncio.to_thread(cancel_job, self.session.root, self.series.job_id)
        finally:
            self.reload_runs()
