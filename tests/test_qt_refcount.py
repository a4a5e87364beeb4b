"""The pinned PySide6 keeps the reference counts of None/True/False through many void calls.

PySide6 6.12.0 drops one reference to None for every call of a void Qt method (and one
to True for every `Signal.emit`); None has only a few thousand references, so a long-lived
app aborts with "Fatal Python error: none_dealloc" on Python < 3.12. pyproject.toml pins
around that release; this test makes 100k calls of each kind in a child process, so an
abort is a failure here rather than the end of the test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.gui

CALLS = 100_000

CHILD = f"""
import json, sys
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication, QWidget

class Source(QObject):
    ping = Signal()

class Sink(QObject):
    @Slot()
    def on_ping(self):
        pass

app = QApplication([])
widget, obj, source, sink = QWidget(), QObject(), Source(), Sink()
source.ping.connect(sink.on_ping)
calls = {{
    "QWidget.setEnabled": lambda: widget.setEnabled(True),
    "QObject.setObjectName": lambda: obj.setObjectName("probe"),
    "void slot via Signal.emit": source.ping.emit,
}}
for name, call in calls.items():
    before = [sys.getrefcount(x) for x in (None, True, False)]
    for _ in range({CALLS}):
        call()
    after = [sys.getrefcount(x) for x in (None, True, False)]
    print(json.dumps({{"call": name, "before": before, "after": after}}), flush=True)
"""


def test_void_qt_calls_keep_none_true_false_alive() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=300
    )
    import PySide6

    assert child.returncode == 0, (
        f"PySide6 {PySide6.__version__}: the process died (code {child.returncode}) during "
        f"{CALLS} void Qt calls:\n{child.stderr[-2000:]}"
    )
    rows = [json.loads(line) for line in child.stdout.splitlines()]
    assert len(rows) == 3
    for row in rows:
        for name, before, after in zip(
            ("None", "True", "False"), row["before"], row["after"], strict=True
        ):
            # Immortal objects (Python 3.12+) report a huge constant; a leak shows as a drop
            # proportional to the number of calls.
            assert after > before - CALLS // 100, (
                f"{row['call']}: {name}'s reference count fell from {before} to {after} "
                f"over {CALLS} calls (PySide6 {PySide6.__version__})"
            )
