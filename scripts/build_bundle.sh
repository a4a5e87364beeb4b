#!/usr/bin/env bash
# Build the one-folder PyInstaller bundle of TwT Studio into build/bundle/dist/twt-studio/.
#
#   scripts/build_bundle.sh            the release bundle (with torch, transformers, ...)
#   scripts/build_bundle.sh --lean     without the heavy ML stack (what the tests build)
#
# Environment: TWT_BUNDLE_DIR (default build/bundle) sets where dist/ and work/ go.
# Run the result: build/bundle/dist/twt-studio/twt-studio [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
    --lean) export TWT_BUNDLE_LEAN=1 ;;
    "") export TWT_BUNDLE_LEAN=0 ;;
    *) echo "usage: $0 [--lean]" >&2; exit 2 ;;
esac

out=${TWT_BUNDLE_DIR:-build/bundle}
[ -x .venv/bin/pyinstaller ] || { echo "build_bundle: run scripts/setup.sh first (needs pyinstaller in .venv)" >&2; exit 1; }
start=$(date +%s)
.venv/bin/pyinstaller --noconfirm --log-level WARN \
    --distpath "$out/dist" --workpath "$out/work" packaging/twt-studio.spec
echo "build_bundle: $out/dist/twt-studio ($(du -sh "$out/dist/twt-studio" | cut -f1), $(( $(date +%s) - start )) s)"
