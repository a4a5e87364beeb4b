"""Before Qt starts: a missing system library or a missing display is one clear line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from twt_gui.platform_check import (
    DEBIAN_PACKAGES,
    debian_package,
    expected_platform,
    missing_libraries,
    platform_problem,
    plugin_path,
    run_ldd,
)

REPO = Path(__file__).resolve().parents[1]

# `ldd libqxcb.so` on a Debian 12 machine without libxcb-cursor0 and libxcb-icccm4 (abridged)
LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd1c5f1000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x7f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f2b1a9a4000)
\tlibxcb-cursor.so.0 => not found
"""


def fake_plugin(_platform: str) -> Path:
    return Path("/venv/PySide6/Qt/plugins/platforms/libqxcb.so")


def test_missing_libraries_are_read_from_ldd_output_once_each():
    assert missing_libraries(LDD_MISSING) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    assert missing_libraries("\tlibxcb.so.1 => /lib/libxcb.so.1 (0x1)\n") == []


def test_debian_package_from_the_table_or_debian_naming_rule():
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert debian_package("libfoo.so.3") == "libfoo3"  # not in the table: Debian's rule
    assert debian_package("libbar2.so.1.4") == "libbar2-1"  # stem ends with a digit


def test_missing_xcb_library_names_it_and_the_one_install_command():
    env = {"DISPLAY": ":0"}
    problem = platform_problem(env, ldd=lambda path: LDD_MISSING, plugin=fake_plugin)
    assert problem == (
        "twt-studio: the Qt xcb platform needs libxcb-cursor.so.0, libxcb-icccm.so.4 "
        "(missing): sudo apt-get install libxcb-cursor0 libxcb-icccm4"
    )


def test_one_missing_library_reads_as_in_the_docs():
    ldd = "\tlibxcb-cursor.so.0 => not found\n"
    problem = platform_problem({"DISPLAY": ":0"}, ldd=lambda path: ldd, plugin=fake_plugin)
    assert problem == (
        "twt-studio: the Qt xcb platform needs libxcb-cursor.so.0 (missing): "
        "sudo apt-get install libxcb-cursor0"
    )


def test_nothing_missing_or_a_headless_platform_is_no_problem():
    ok = "\tlibxcb.so.1 => /lib/libxcb.so.1 (0x1)\n"
    assert platform_problem({"DISPLAY": ":0"}, ldd=lambda p: ok, plugin=fake_plugin) is None
    calls = []
    env = {"QT_QPA_PLATFORM": "offscreen"}
    assert platform_problem(env, ldd=calls.append, plugin=plugin_path) is None  # type: ignore[arg-type]
    assert calls == []  # offscreen: nothing to check


def test_no_display_at_all_is_said_plainly():
    problem = platform_problem({}, ldd=lambda p: "", plugin=fake_plugin)
    assert problem is not None and problem.startswith("twt-studio: no display:")
    assert "DISPLAY" in problem and "WAYLAND_DISPLAY" in problem


@pytest.mark.parametrize(
    ("env", "platform"),
    [
        ({"DISPLAY": ":0"}, "xcb"),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "wayland"),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "xcb"),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", "XDG_SESSION_TYPE": "wayland"}, "wayland"),
        ({"QT_QPA_PLATFORM": "xcb:foo=1", "WAYLAND_DISPLAY": "w"}, "xcb"),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, "wayland"),
        ({}, None),
    ],
)
def test_expected_platform_follows_qt_choice(env, platform):
    assert expected_platform(env) == platform


def test_every_x11_library_the_real_xcb_plugin_links_is_in_the_table():
    """A PySide6 upgrade that links a new X/xcb/GL library must extend the table (and
    scripts/setup.sh): ldd on the installed plugins, resolved or not."""
    plugin = plugin_path("xcb")
    assert plugin is not None, "PySide6's libqxcb.so not found"
    glue = sorted((plugin.parent.parent / "xcbglintegrations").glob("*.so"))
    linked = set()
    for path in [plugin, *glue]:
        linked |= set(re.findall(r"^\s*(\S+\.so[.\d]*)\s+=>", run_ldd(path), re.MULTILINE))
    x11 = {n for n in linked if re.match(r"lib(xcb|X11|xkbcommon|EGL|GL|GLX)\b", n)}
    assert x11, "ldd listed no X11 library: is ldd installed?"
    assert x11 - set(DEBIAN_PACKAGES) == set()


def test_setup_installs_every_package_of_the_table():
    text = (REPO / "scripts" / "setup.sh").read_text()
    block = re.search(r'QT_XCB_PACKAGES="([^"]+)"', text)
    assert block is not None
    listed = set(block.group(1).split())
    wanted = {p for so, p in DEBIAN_PACKAGES.items() if not so.startswith("libwayland")}
    assert wanted - listed == set()
    test_path = re.search(r'TEST_SYSTEM_PACKAGES="([^"]+)"', text)
    assert test_path is not None and {"xvfb", "xauth"} <= set(test_path.group(1).split())
    assert "scripts/setup.sh --test" in (REPO / "run-tests").read_text()


def _studio_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["TWT_DATA_HOME"] = str(tmp_path / "data-home")
    env.update(extra)
    return env


def test_the_app_exits_1_with_the_install_command_when_ldd_finds_a_library_missing(tmp_path):
    """The real entry point, with an `ldd` on PATH that reports libxcb-cursor missing (a
    library cannot be hidden from the real ldd without uninstalling it)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    ldd = fake_bin / "ldd"
    ldd.write_text("#!/bin/sh\nprintf '\\tlibxcb-cursor.so.0 => not found\\n'\n")
    ldd.chmod(0o755)
    env = _studio_env(
        tmp_path, DISPLAY=":97", PATH=f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    done = subprocess.run(
        [sys.executable, "-m", "twt_gui.app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "twt-studio: the Qt xcb platform needs libxcb-cursor.so.0 (missing): "
        "sudo apt-get install libxcb-cursor0"
    )
    assert "Could not load the Qt platform plugin" not in done.stderr


def test_the_app_without_any_display_says_so_and_exits_1(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "twt_gui.app"],
        env=_studio_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("twt-studio: no display:")
