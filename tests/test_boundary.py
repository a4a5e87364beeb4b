"""The back end never imports Qt: checked by import-linter and by importing it without Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BLOCK_QT = r"""
import importlib, pkgutil, sys
class BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'qasync', 'pyqtgraph'):
            raise ImportError('Qt is not available in this environment: ' + name)
sys.meta_path.insert(0, BlockQt())
import twt_backend
names = [m.name for m in pkgutil.walk_packages(twt_backend.__path__, 'twt_backend.')
         if not m.name.endswith('__main__')]
for name in names:
    importlib.import_module(name)
print(len(names), 'modules imported without Qt')
"""


def test_import_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout


def test_every_backend_module_imports_without_qt():
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_QT], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "modules imported without Qt" in result.stdout


def test_cli_starts_without_heavy_imports():
    code = (
        "import sys; from twt_backend.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch','transformers','sentence_transformers','PySide6') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
