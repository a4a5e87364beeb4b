"""The app's forms come from the same field metadata as the CLI flags (config.field_specs):
a widget per field, labelled and explained from the metadata, choices as combo boxes,
switches as check boxes, and the range in the help."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit

from twt_backend import config as cfg

pytestmark = pytest.mark.gui

# every config dataclass of twt_backend.config (a new one is covered without an edit here)
CLASSES = [
    value
    for value in vars(cfg).values()
    if isinstance(value, type)
    and dataclasses.is_dataclass(value)
    and value.__module__ == cfg.__name__
    and value is not cfg.FieldSpec
]


def test_the_config_classes_are_found() -> None:
    assert {cfg.TeacherConfig, cfg.TrainingConfig, cfg.RefineConfig} <= set(CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_form_has_a_widget_per_field_from_the_metadata(qtbot, cls) -> None:
    from twt_gui.forms import DataclassForm

    form = DataclassForm(cls)
    qtbot.addWidget(form)
    assert list(form.widgets) == [f.name for f in dataclasses.fields(cls)]
    for spec in cfg.field_specs(cls):
        widget, label = form.widgets[spec.name], form.labels[spec.name]
        assert label.text() == spec.label
        assert widget.toolTip().startswith(spec.help) and label.toolTip() == widget.toolTip()
        if spec.choices:
            assert isinstance(widget, QComboBox)
            assert [widget.itemText(i) for i in range(widget.count())] == list(
                map(str, spec.choices)
            )
        elif spec.kind is bool:
            assert isinstance(widget, QCheckBox)
        else:
            assert isinstance(widget, QLineEdit)
            if spec.bounds_text():
                assert f"Range: {spec.bounds_text()}." in widget.toolTip()
    base = {"name": "t", "model": "m"} if cls is cfg.TeacherConfig else {}
    for name, text in base.items():
        form.set_raw(name, text)
    assert form.value() == cls(**base)  # the defaults read back unchanged


def test_metadata_labels_and_bounds_reach_the_form(qtbot) -> None:
    from twt_gui.forms import DataclassForm

    form = DataclassForm(cfg.TeacherConfig)
    qtbot.addWidget(form)
    assert form.labels["timeout_s"].text() == "Timeout (s)"  # `label` metadata
    assert "Range: 1 to 1024." in form.widgets["concurrency"].toolTip()
    form.set_raw("name", "t")
    form.set_raw("model", "m")
    form.set_raw("concurrency", "0")
    assert form.value() is None
    assert "below the minimum 1" in form.error_texts()["concurrency"]
