"""The app's package data (`twt_gui/resources/`): style sheets and icons, read with
`importlib.resources`, so a source folder, an installed wheel and a PyInstaller bundle
all find them."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def asset(*parts: str) -> Path:
    """A file under twt_gui/resources, e.g. ``asset("style", "dark.qss")``. A missing one is
    a broken installation: FileNotFoundError names it."""
    found = files("twt_gui") / "resources"
    for part in parts:
        found = found / part
    if not (isinstance(found, Path) and found.is_file()):
        raise FileNotFoundError(f"the app's package data has no {'/'.join(parts)} ({found})")
    return found
