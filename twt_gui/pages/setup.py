"""Setup page: teachers, DCRS options, student / LoRA / training / launcher options."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from twt_backend.config import (
    GenerationConfig,
    LaunchConfig,
    LoraConfig,
    SelectionConfig,
    TeacherConfig,
    TrainingConfig,
)
from twt_backend.errors import TwtError
from twt_gui.forms import DataclassForm
from twt_gui.pages.base import Page
from twt_gui.pages.setup_ctl import SetupController, key_rule
from twt_gui.session import ProjectSession
from twt_gui.widgets import EmptyState, StatePanel

KEY_SOURCES = ("environment variable", "OS keyring", "none (local server)")


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area


class SetupPage(Page):
    title = "Setup"
    subtitle = "Forms use the paper's defaults; hover a field for its help."

    def __init__(self, session: ProjectSession):
        super().__init__(session)
        self.controller: SetupController | None = None
        self._test_generation = 0
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_teachers(), "Teachers")
        self.selection_form = DataclassForm(SelectionConfig)
        self.tabs.addTab(
            self._config_tab([self.selection_form], "Save selection options"), "Selection (DCRS)"
        )
        self.training_form = DataclassForm(TrainingConfig)
        self.lora_form = DataclassForm(LoraConfig)
        self.launch_form = DataclassForm(LaunchConfig)
        self.generation_form = DataclassForm(GenerationConfig)  # student inference, engine
        self.tabs.addTab(
            self._config_tab(
                [self.training_form, self.lora_form, self.launch_form, self.generation_form],
                "Save student options",
            ),
            "Student && training",
        )
        self.panel = StatePanel(self.tabs, EmptyState("", ""))
        self.body.addWidget(self.panel, 1)
        self.refresh()

    # ---- layout ------------------------------------------------------------------------
    def _build_teachers(self) -> QWidget:
        self.teacher_list = QListWidget()
        self.teacher_list.setMaximumWidth(220)
        self.teacher_list.currentTextChanged.connect(self._load_teacher)
        new = QPushButton("New teacher")
        new.clicked.connect(self.new_teacher)
        left = QVBoxLayout()
        left.addWidget(self.teacher_list, 1)
        left.addWidget(new)
        self.teacher_form = DataclassForm(TeacherConfig, exclude=("api_key_env", "keyring_service"))
        self.enabled = QCheckBox("Enabled (labels queries)")
        self.enabled.setChecked(True)
        self.key_source = QComboBox()
        self.key_source.addItems(list(KEY_SOURCES))
        self.key_env = QLineEdit(placeholderText="e.g. OPENAI_API_KEY")
        self.key_value = QLineEdit(placeholderText="stored in the OS keyring, never in the project")
        self.key_value.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_rule = QLabel(objectName="keyRule")
        self.key_rule.setWordWrap(True)
        keys = QGroupBox("API key")
        key_form = QFormLayout(keys)
        key_form.addRow("Source", self.key_source)
        key_form.addRow("Variable name", self.key_env)
        key_form.addRow("Key (keyring)", self.key_value)
        key_form.addRow(self.key_rule)
        self.key_source.currentIndexChanged.connect(self.update_key_rule)
        self.key_env.textChanged.connect(self.update_key_rule)
        provider, base_url = (self.teacher_form.widgets[n] for n in ("provider", "base_url"))
        assert isinstance(provider, QComboBox) and isinstance(base_url, QLineEdit)
        provider.currentTextChanged.connect(self.update_key_rule)
        base_url.textChanged.connect(self.update_key_rule)
        self.update_key_rule()
        self.save_teacher_button = QPushButton("Save teacher", objectName="primary")
        self.save_teacher_button.clicked.connect(self.save_teacher)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete_teacher)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_teacher)
        buttons = QHBoxLayout()
        for button in (self.save_teacher_button, self.test_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch()
        self.test_result = QPlainTextEdit(readOnly=True)
        self.test_result.setPlaceholderText(
            "Test connection sends one query and shows the parsed triplet."
        )
        self.test_result.setMaximumHeight(150)
        form_box = QWidget()
        right = QVBoxLayout(form_box)
        right.addWidget(self.teacher_form)
        right.addWidget(self.enabled)
        right.addWidget(keys)
        right.addLayout(buttons)
        right.addWidget(self.test_result)
        page = QWidget()
        layout = QHBoxLayout(page)
        layout.addLayout(left)
        layout.addWidget(_scroll(form_box), 1)
        return page

    def _config_tab(self, forms: list[DataclassForm], save_text: str) -> QWidget:
        inner = QWidget()
        layout = QVBoxLayout(inner)
        for form in forms:
            box = QGroupBox(form.cls.__name__.replace("Config", " options"))
            QVBoxLayout(box).addWidget(form)
            layout.addWidget(box)
        save = QPushButton(save_text, objectName="primary")
        save.clicked.connect(lambda: self.save_configs(forms))
        layout.addWidget(save, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch()
        return _scroll(inner)

    def update_key_rule(self) -> None:
        source = self.key_source.currentIndex()
        self.key_rule.setText(
            key_rule(
                self.teacher_form.raw("provider"),
                self.teacher_form.raw("base_url"),
                self.key_env.text().strip() if source == 0 else None,
                keyring=source == 1,
            )
        )

    # ---- state -------------------------------------------------------------------------
    def refresh(self) -> None:
        project = self.session.project
        self.controller = SetupController(project) if project else None
        if self.controller is None:
            self.panel.show_empty(True, "No project open", "Open a project on the Projects page.")
            return
        self.panel.show_empty(False)
        from twt_backend.ops.settings import load_config

        forms = (self.selection_form, self.training_form, self.lora_form, self.launch_form)
        for form in (*forms, self.generation_form):
            form.set_value(load_config(project, form.cls))
        current = self.teacher_list.currentItem()
        name = current.text() if current else None
        self.teacher_list.blockSignals(True)
        self.teacher_list.clear()
        names = [t["name"] for t in self.controller.teachers()]
        self.teacher_list.addItems(names)
        self.teacher_list.blockSignals(False)
        if name in names:
            self.teacher_list.setCurrentRow(names.index(name))
        elif names:
            self.teacher_list.setCurrentRow(0)
        else:
            self.new_teacher()

    def _load_teacher(self, name: str) -> None:
        if self.controller is None:
            return
        for teacher in self.controller.teachers():
            if teacher["name"] == name:
                config = teacher["config"]
                self.teacher_form.set_value(config)
                self.enabled.setChecked(bool(teacher["enabled"]))
                source = 0 if config.api_key_env else 1 if config.keyring_service else 2
                self.key_source.setCurrentIndex(source)
                self.key_env.setText(config.api_key_env or "")
                self.key_value.clear()

    def new_teacher(self) -> None:
        self.teacher_list.clearSelection()
        self.teacher_form.set_value(TeacherConfig())
        self.key_source.setCurrentIndex(0)
        self.key_env.clear()
        self.key_value.clear()

    def teacher_config(self) -> TeacherConfig | None:
        config = self.teacher_form.value()
        if config is None:
            return None
        source = self.key_source.currentIndex()
        config.api_key_env = self.key_env.text().strip() or None if source == 0 else None
        config.keyring_service = None
        if source == 1 and self.controller is not None:
            key = self.key_value.text()
            if key:
                config = self.controller.store_key(config, key)
            else:
                from twt_gui.pages.setup_ctl import KEYRING_SERVICE

                config.keyring_service = KEYRING_SERVICE
        try:
            config.validate()
        except TwtError as exc:
            field = str(exc).split(":", 1)[0].replace("teacher ", "")
            label = self.teacher_form.errors.get(field)
            if label is not None:
                label.setText(str(exc).split(": ", 1)[-1])
            else:
                QMessageBox.warning(self, "Teacher", str(exc))
            return None
        return config

    # ---- actions -----------------------------------------------------------------------
    def save_teacher(self) -> bool:
        config = self.teacher_config()
        if config is None or self.controller is None:
            return False
        try:
            self.controller.save_teacher(config, self.enabled.isChecked())
        except TwtError as exc:
            QMessageBox.warning(self, "Teacher", str(exc))
            return False
        self.key_value.clear()
        self.refresh()
        self.teacher_list.setCurrentRow(self.teacher_list.count() - 1)
        for i in range(self.teacher_list.count()):
            if self.teacher_list.item(i).text() == config.name:
                self.teacher_list.setCurrentRow(i)
        self.session.notify("teachers")
        return True

    def delete_teacher(self) -> None:
        item = self.teacher_list.currentItem()
        if item is None or self.controller is None:
            return
        try:
            self.controller.delete_teacher(item.text())
        except TwtError as exc:
            QMessageBox.warning(self, "Teacher", str(exc))
        self.refresh()

    @asyncSlot()
    async def test_teacher(self) -> None:
        await self.run_test()

    async def run_test(self) -> dict | None:
        config = self.teacher_config()
        if config is None or self.controller is None:
            return None
        self._test_generation += 1
        generation = self._test_generation
        self.test_button.setEnabled(False)
        self.test_result.setPlainText(f"Sending one query to {config.name}…")
        try:
            result = await self.controller.test_connection(config)
        except TwtError as exc:
            if generation == self._test_generation:
                self.test_result.setPlainText(f"Failed: {exc}")
            return None
        finally:
            self.test_button.setEnabled(True)
        if generation != self._test_generation:
            return None
        self.test_result.setPlainText(
            f"OK in {result['latency_s']:.2f} s ({result['tokens_in']} tokens in, "
            f"{result['tokens_out']} out)\n{result['key_source']}\n"
            f"parse status: {result['parse_status']}\n"
            f"answer: {result['answer']}\nconfidence: {result['confidence']}\n"
            f"rationale: {(result['rationale'] or '')[:600]}"
        )
        return result

    def save_configs(self, forms: list[DataclassForm]) -> bool:
        if self.controller is None:
            return False
        from twt_backend.ops.settings import save_config

        values = [form.value() for form in forms]
        if any(v is None for v in values):
            return False
        for value in values:
            save_config(self.controller.project, value)
        self.session.notify("settings")
        return True
