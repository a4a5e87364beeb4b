"""The Setup page: the key rule beside the key fields, and numbers checked in its forms."""
# ruff: noqa: F811 - pytest fixtures imported by name

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.gui_helpers import async_loop, settings  # noqa: F401 - fixtures
from tests.test_gui_pages import open_project, window  # noqa: F401 - fixtures

pytestmark = pytest.mark.gui

DEFAULT_SECRET = "sk-default-env-SECRET-0123456789abcdef"


def test_setup_page_shows_which_key_goes_where(window, tmp_path):
    open_project(window, tmp_path / "p", queries=1)
    setup = window.show_page("Setup")
    setup.new_teacher()
    form = setup.teacher_form
    setup.key_source.setCurrentIndex(2)  # none
    form.set_raw("provider", "openai")
    form.set_raw("base_url", "")
    assert "Sends: key from $OPENAI_API_KEY." in setup.key_rule.text()
    assert "goes only to its default endpoint" in setup.key_rule.text()
    form.set_raw("base_url", "http://127.0.0.1:8000/v1")
    assert "no key sent (custom endpoint, no key source named)" in setup.key_rule.text()
    form.set_raw("provider", "mistral")
    assert "(MISTRAL_API_KEY)" in setup.key_rule.text()
    setup.key_source.setCurrentIndex(0)
    setup.key_env.setText("GATEWAY_KEY")
    assert "Sends: key from $GATEWAY_KEY." in setup.key_rule.text()
    pasted = "sk-proj-AbCdEf0123456789AbCdEf0123456789"
    setup.key_env.setText(pasted)
    assert pasted not in setup.key_rule.text() and "not the key" in setup.key_rule.text()
    setup.key_source.setCurrentIndex(1)
    assert "Sends: key from keyring." in setup.key_rule.text()


def test_test_connection_sends_no_default_key_to_a_custom_url(
    window, qtbot, async_loop, tmp_path, monkeypatch
):
    from tests.fake_openai import FakeOpenAIServer

    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_SECRET)
    open_project(window, tmp_path / "p", queries=1)
    setup = window.show_page("Setup")
    with FakeOpenAIServer() as server:
        setup.new_teacher()
        setup.teacher_form.set_raw("name", "local")
        setup.teacher_form.set_raw("model", "m")
        setup.teacher_form.set_raw("base_url", server.base_url)
        setup.key_source.setCurrentIndex(2)
        qtbot.mouseClick(setup.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: setup.test_result.toPlainText().startswith(("OK", "Failed")), timeout=15000
        )
        assert dict(server.authorization) == {"": 1}
    text = setup.test_result.toPlainText()
    assert text.startswith("OK") and "no key sent (custom endpoint" in text, text


def test_forms_refuse_non_finite_numbers(window, tmp_path):
    from twt_backend.config import SelectionConfig
    from twt_backend.settings import load_config

    open_project(window, tmp_path / "p", queries=1)
    setup = window.show_page("Setup")
    setup.new_teacher()
    form = setup.teacher_form
    form.set_raw("name", "t1")
    form.set_raw("model", "m")
    form.set_raw("base_url", "http://127.0.0.1:9/v1")
    form.set_raw("temperature", "nan")
    form.set_raw("timeout_s", "inf")
    form.set_raw("price_in", "-inf")
    setup.key_source.setCurrentIndex(2)
    assert not setup.save_teacher()
    errors = form.error_texts()
    assert set(errors) == {"temperature", "timeout_s", "price_in"}
    assert all("not a finite number" in text for text in errors.values()), errors
    assert window.session.project.scalar("SELECT COUNT(*) FROM teachers") == 0

    setup.selection_form.set_raw("threshold", "nan")
    assert not setup.save_configs([setup.selection_form])
    assert "not a finite number" in setup.selection_form.error_texts()["threshold"]
    assert load_config(window.session.project, SelectionConfig).threshold == 0.95
