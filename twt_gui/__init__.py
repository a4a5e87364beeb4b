"""TwT Studio desktop app (PySide6 + qasync + pyqtgraph). Only UI and light async I/O here."""

from __future__ import annotations

import sys


def _pin_none_refcount() -> None:
    """Work around a PySide6 6.12.0 reference-count bug on Python < 3.12.

    Every call of a void Qt method from Python drops one reference to None. None starts
    with a few thousand references, so after that many calls the interpreter aborts with
    "Fatal Python error: none_dealloc" (True/False suffer likewise). Python 3.12+ makes None immortal (PEP 683) and is
    not affected; on older Pythons give them the same practical immortality by adding
    2**48 references (ob_refcnt is the first field of every CPython object).
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    import ctypes

    for singleton in (None, True, False):  # bools leak the same way in some paths
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 48


_pin_none_refcount()
