"""Before Qt starts: can it open a window here? One clear line instead of Qt's abort.

Qt's own message when a system library of its platform plugin is missing ("Could not load
the Qt platform plugin "xcb" ... even though it was found") names neither the library nor
the package. So, before the QApplication exists, `platform_problem` predicts which plugin
Qt will load (QT_QPA_PLATFORM, else Wayland or X11 from the session's variables), runs
`ldd` on it (which also follows libQt6XcbQpa and the rest it links) and turns every
"not found" into the Debian package that ships it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path

# Shared objects the Qt 6 xcb plugin links (ldd on libqxcb.so of PySide6 6.12, its
# libQt6XcbQpa and the xcbglintegrations), with the Debian package of each (`dpkg -S`);
# scripts/setup.sh installs the same packages.
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
PLUGIN_FILES = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)

Ldd = Callable[[Path], str]


def missing_libraries(ldd_output: str) -> list[str]:
    """The shared objects `ldd` could not find, in order, each once."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def debian_package(soname: str) -> str:
    """The Debian package that ships `soname`: the table above, else Debian's naming rule
    (libfoo.so.3 -> libfoo3; libfoo2.so.1 -> libfoo2-1)."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    match = re.fullmatch(r"(lib[\w.+-]+?)\.so\.(\d+)(?:\.\d+)*", soname)
    if not match:
        return soname
    stem, version = match.group(1).lower().replace("_", "-"), match.group(2)
    return f"{stem}-{version}" if stem[-1].isdigit() else f"{stem}{version}"


def expected_platform(env: Mapping[str, str]) -> str | None:
    """The platform plugin Qt will load with this environment; None: no display at all."""
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    wayland = bool(env.get("WAYLAND_DISPLAY"))
    if wayland and (env.get("XDG_SESSION_TYPE") == "wayland" or not env.get("DISPLAY")):
        return "wayland"
    return "xcb" if env.get("DISPLAY") else None


def plugin_path(platform: str) -> Path | None:
    """The plugin file of `platform` in this Qt installation (None: not a known one)."""
    from PySide6.QtCore import QLibraryInfo

    name = PLUGIN_FILES.get(platform)
    if name is None:
        return None
    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    path = folder / name
    return path if path.is_file() else None


def run_ldd(path: Path) -> str:
    """`ldd PATH`'s output ("" where ldd is absent or fails: then nothing is reported)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    try:
        done = subprocess.run(
            [ldd, str(path)], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout


def install_hint(packages: list[str]) -> str:
    if shutil.which("apt-get"):
        return "sudo apt-get install " + " ".join(packages)
    return "install the system package(s) that provide them (Debian/Ubuntu: " + (
        " ".join(packages) + ")"
    )


def platform_problem(
    env: Mapping[str, str] | None = None,
    ldd: Ldd = run_ldd,
    plugin: Callable[[str], Path | None] = plugin_path,
) -> str | None:
    """Why Qt could not open a window with this environment, as one line; None: it can
    (as far as we can tell: unknown platforms such as offscreen are left to Qt)."""
    env = os.environ if env is None else env
    platform = expected_platform(env)
    if platform is None:
        return (
            "twt-studio: no display: DISPLAY and WAYLAND_DISPLAY are unset (start it from a "
            "desktop session, or over ssh with -X; QT_QPA_PLATFORM=offscreen runs it without "
            "a screen)"
        )
    path = plugin(platform)
    if path is None:
        return None
    missing = missing_libraries(ldd(path))
    if not missing:
        return None
    packages = list(dict.fromkeys(debian_package(name) for name in missing))
    return (
        f"twt-studio: the Qt {platform} platform needs {', '.join(missing)} (missing): "
        f"{install_hint(packages)}"
    )


def startup_problem(smoke_test: bool, env: MutableMapping[str, str] | None = None) -> str | None:
    """The check `twt-studio` runs before its QApplication: a smoke test with no display
    runs offscreen (it needs no screen); anything else must be able to open a window."""
    env = os.environ if env is None else env
    if smoke_test and expected_platform(env) is None:
        env["QT_QPA_PLATFORM"] = "offscreen"
        return None
    return platform_problem(env)
