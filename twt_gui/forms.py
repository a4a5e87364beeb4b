"""Forms built from the back end's config dataclasses (help, choices, min, max metadata),
with a validation message beside each field."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QLabel, QLineEdit, QWidget

from twt_backend.config import validate_fields
from twt_backend.errors import UsageError


def _kind(cls: type, f: dataclasses.Field[Any]) -> tuple[str, bool]:
    """('str' | 'int' | 'float' | 'bool', optional?) of a field."""
    hint = typing.get_type_hints(cls)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = type(None) in typing.get_args(hint)
    base = args[0] if args else hint
    return getattr(base, "__name__", "str"), optional


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


class DataclassForm(QWidget):
    """Edits one config dataclass; `value()` returns a validated instance or None."""

    def __init__(self, cls: type, exclude: tuple[str, ...] = (), parent: QWidget | None = None):
        super().__init__(parent)
        self.cls = cls
        self.fields = [f for f in dataclasses.fields(cls) if f.name not in exclude]
        self.widgets: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        grid.setColumnStretch(1, 1)
        for row, f in enumerate(self.fields):
            widget = self._widget(f)
            widget.setToolTip(f.metadata.get("help", ""))
            label = QLabel(_label(f.name))
            label.setToolTip(f.metadata.get("help", ""))
            error = QLabel(objectName="fieldError")
            error.setWordWrap(True)
            grid.addWidget(label, row, 0)
            grid.addWidget(widget, row, 1)
            grid.addWidget(error, row, 2)
            self.widgets[f.name] = widget
            self.errors[f.name] = error
        grid.setColumnMinimumWidth(2, 180)
        self.set_value(cls())

    def _widget(self, f: dataclasses.Field[Any]) -> QWidget:
        kind, _ = _kind(self.cls, f)
        if f.metadata.get("choices"):
            combo = QComboBox()
            combo.addItems([str(c) for c in f.metadata["choices"]])
            return combo
        if kind == "bool":
            return QCheckBox()
        edit = QLineEdit()
        edit.setPlaceholderText(f.metadata.get("help", "")[:80])
        return edit

    def set_value(self, obj: Any) -> None:
        for f in self.fields:
            widget, value = self.widgets[f.name], getattr(obj, f.name)
            if isinstance(widget, QComboBox):
                widget.setCurrentText(str(value))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QLineEdit):
                widget.setText("" if value is None else str(value))
            self.errors[f.name].clear()

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

    def _parse(self, f: dataclasses.Field[Any]) -> Any:
        widget = self.widgets[f.name]
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        kind, optional = _kind(self.cls, f)
        text = self.raw(f.name)
        if text == "" and optional:
            return None
        if kind == "int":
            try:
                return int(text)
            except ValueError:
                raise ValueError("enter a whole number") from None
        if kind == "float":
            try:
                return float(text)
            except ValueError:
                raise ValueError("enter a number") from None
        return text

    def value(self) -> Any | None:
        """The config, or None after showing a message beside every bad field."""
        values: dict[str, Any] = {}
        for f in self.fields:
            self.errors[f.name].clear()
            try:
                values[f.name] = self._parse(f)
            except ValueError as exc:
                self.errors[f.name].setText(str(exc))
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
