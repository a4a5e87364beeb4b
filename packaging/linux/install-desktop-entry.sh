#!/usr/bin/env bash
# Install the TwT Studio menu entry and icons for the current user (freedesktop.org).
#
#   packaging/linux/install-desktop-entry.sh [EXECUTABLE]
#
# EXECUTABLE defaults to the bundle (build/bundle/dist/twt-studio/twt-studio) when it was
# built, else .venv/bin/twt-studio. XDG_DATA_HOME (default ~/.local/share) sets where.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
exe=${1:-}
if [ -z "$exe" ]; then
    exe="$root/build/bundle/dist/twt-studio/twt-studio"
    [ -x "$exe" ] || exe="$root/.venv/bin/twt-studio"
fi
[ -x "$exe" ] || { echo "install-desktop-entry: $exe is not an executable" >&2; exit 1; }
exe="$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")"

data=${XDG_DATA_HOME:-$HOME/.local/share}
for png in "$root"/twt_gui/resources/icons/twt-studio-*.png; do
    size=$(basename "$png" .png); size=${size##*-}
    install -Dm644 "$png" "$data/icons/hicolor/${size}x${size}/apps/twt-studio.png"
done
install -Dm644 "$root/twt_gui/resources/icons/twt-studio.svg" "$data/icons/hicolor/scalable/apps/twt-studio.svg"
mkdir -p "$data/applications"
sed -e "s|^Exec=twt-studio|Exec=\"$exe\"|" -e "s|^TryExec=twt-studio|TryExec=$exe|" \
    "$root/packaging/linux/twt-studio.desktop" > "$data/applications/twt-studio.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "installed $data/applications/twt-studio.desktop -> $exe"
