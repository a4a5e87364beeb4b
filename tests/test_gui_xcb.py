"""The app on a real X server: `twt-studio --smoke-test` under Xvfb with QT_QPA_PLATFORM
unset loads the xcb platform plugin (the one a desktop user gets) and draws every page.

Xvfb comes from `scripts/setup.sh --test` (what ./run-tests runs). Where it is missing the
test fails in CI and is skipped elsewhere, with the command that installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gui_helpers import add_queries, image_colours
from twt_backend.store import Project

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def x_display() -> Iterator[str]:
    """A fresh Xvfb on a free display number (Xvfb picks it: -displayfd)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        message = "Xvfb is not installed: `sudo apt-get install xvfb xauth` (setup.sh --test)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    read, write = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()  # written once the server accepts clients
        assert number.isdigit(), "Xvfb did not report a display"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(30)


def test_smoke_test_runs_on_the_xcb_platform_under_a_real_x_server(x_display, tmp_path):
    project = Project.create(tmp_path / "proj", "math", "xcb")
    add_queries(project, 20)
    project.close()
    out = tmp_path / "shots"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=x_display, TWT_DATA_HOME=str(tmp_path / "data-home"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    studio = Path(sys.executable).with_name("twt-studio")
    argv = [str(studio)] if studio.exists() else [sys.executable, "-m", "twt_gui.app"]

    done = subprocess.run(
        [*argv, "--smoke-test", str(tmp_path / "proj"), "--screenshots", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "platform: xcb" in done.stdout.splitlines(), done.stdout
    pages = sorted(out.glob("[0-9][0-9]-*.png"))
    assert len(pages) == 7
    for png in [*pages, out / "screen.png"]:
        assert image_colours(png) > 8, f"{png.name} looks blank"
