"""Forms built from the back end's config dataclasses through `config.field_specs`, the
metadata the CLI flags come from too (labels, help, choices, ranges), with a validation
message beside each field."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QLabel, QLineEdit, QWidget

from twt_backend.config import FieldSpec, field_specs, validate_fields
from twt_backend.errors import UsageError


class DataclassForm(QWidget):
    """Edits one config dataclass; `value()` returns a validated instance or None."""

    def __init__(self, cls: type, exclude: tuple[str, ...] = (), parent: QWidget | None = None):
        super().__init__(parent)
        self.cls = cls
        self.specs = [s for s in field_specs(cls) if s.name not in exclude]
        self.widgets: dict[str, QWidget] = {}
        self.labels: dict[str, QLabel] = {}
        self.errors: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        grid.setColumnStretch(1, 1)
        for row, spec in enumerate(self.specs):
            widget = self._widget(spec)
            widget.setToolTip(spec.help_with_range())
            label = QLabel(spec.label)
            label.setToolTip(spec.help_with_range())
            error = QLabel(objectName="fieldError")
            error.setWordWrap(True)
            grid.addWidget(label, row, 0)
            grid.addWidget(widget, row, 1)
            grid.addWidget(error, row, 2)
            self.widgets[spec.name] = widget
            self.labels[spec.name] = label
            self.errors[spec.name] = error
        grid.setColumnMinimumWidth(2, 180)
        self.set_value(cls())

    def _widget(self, spec: FieldSpec) -> QWidget:
        if spec.choices:
            combo = QComboBox()
            combo.addItems([str(c) for c in spec.choices])
            return combo
        if spec.kind is bool:
            return QCheckBox()
        edit = QLineEdit()
        edit.setPlaceholderText(spec.help[:80])
        return edit

    def set_value(self, obj: Any) -> None:
        for spec in self.specs:
            widget, value = self.widgets[spec.name], getattr(obj, spec.name)
            if isinstance(widget, QComboBox):
                widget.setCurrentText(str(value))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QLineEdit):
                widget.setText("" if value is None else str(value))
            self.errors[spec.name].clear()

    def raw(self, name: str) -> str:
        widget = self.widgets[name]
        if isinstance(widget, QComboBox):
            return widget.currentText()
        assert isinstance(widget, QLineEdit)
        return widget.text().strip()

    def set_raw(self, name: str, text: str) -> None:
        widget = self.widgets[name]
        if isinstance(widget, QComboBox):
            widget.setCurrentText(text)
        elif isinstance(widget, QCheckBox):
            widget.setChecked(text.lower() in ("1", "true", "yes"))
        elif isinstance(widget, QLineEdit):
            widget.setText(text)

    def _parse(self, spec: FieldSpec) -> Any:
        widget = self.widgets[spec.name]
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        text = self.raw(spec.name)
        if text == "" and spec.optional:
            return None
        if spec.choices:
            return next((c for c in spec.choices if str(c) == text), text)
        if spec.kind is int:
            try:
                return int(text)
            except ValueError:
                raise ValueError("enter a whole number") from None
        if spec.kind is float:
            try:
                return float(text)
            except ValueError:
                raise ValueError("enter a number") from None
        return text

    def value(self) -> Any | None:
        """The config, or None after showing a message beside every bad field."""
        values: dict[str, Any] = {}
        for spec in self.specs:
            self.errors[spec.name].clear()
            try:
                values[spec.name] = self._parse(spec)
            except ValueError as exc:
                self.errors[spec.name].setText(str(exc))
        for name, value in values.items():  # one field at a time: each gets its message
            try:
                validate_fields(dataclasses.replace(self.cls(), **{name: value}))
            except UsageError as exc:
                self.errors[name].setText(str(exc).split(": ", 1)[-1])
        if self.error_texts():
            return None
        return self.cls(**values)

    def error_texts(self) -> dict[str, str]:
        return {name: label.text() for name, label in self.errors.items() if label.text()}
