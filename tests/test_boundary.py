"""The import contracts: the back end never imports Qt (checked by import-linter and by
importing it without Qt), keeps its layers, and the app reaches it through its operations."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


LINT = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_import_contracts_hold():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The back end never imports Qt KEPT" in result.stdout
    assert "The back end's layers KEPT" in result.stdout
    assert "The app reaches the back end through its operations layer KEPT" in result.stdout


def copy_packages(tmp_path: Path) -> None:
    for package in ("twt_backend", "twt_gui"):
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("artifacts.py", "twt_backend.evaluation"),  # the training<->evaluation cycle that was
        ("evaluation/scoring.py", "twt_backend.training.job"),  # evaluation never imports training
        ("store/schema.py", "twt_backend.config"),
        ("ops/__init__.py", "twt_backend.cli"),
    ],
)
def test_an_upward_import_breaks_the_layers_contract(tmp_path, importer, imported):
    copy_packages(tmp_path)
    with open(tmp_path / "twt_backend" / importer, "a", encoding="utf-8") as module:
        module.write(f"\nimport {imported}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "The back end's layers BROKEN" in result.stdout
    assert "The back end never imports Qt KEPT" in result.stdout
    importer_module = "twt_backend." + importer.removesuffix(".py").replace("/", ".")
    assert f"{importer_module.removesuffix('.__init__')} -> {imported}" in result.stdout


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("session.py", "twt_backend.store"),
        ("pages/review_ctl.py", "twt_backend.selection.stats"),
        ("pages/labelling.py", "twt_backend.jobs"),
    ],
)
def test_the_app_reaching_past_the_operations_layer_breaks_its_contract(
    tmp_path, importer, imported
):
    copy_packages(tmp_path)
    with open(tmp_path / "twt_gui" / importer, "a", encoding="utf-8") as module:
        module.write(f"\nimport {imported}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "The app reaches the back end through its operations layer BROKEN" in result.stdout
    assert "The back end's layers KEPT" in result.stdout
    importer_module = "twt_gui." + importer.removesuffix(".py").replace("/", ".")
    assert f"{importer_module} -> {imported}" in result.stdout


def test_an_annotation_only_import_is_not_a_dependency_of_the_app(tmp_path):
    copy_packages(tmp_path)
    with open(tmp_path / "twt_gui" / "session.py", "a", encoding="utf-8") as module:
        module.write(
            "\nfrom typing import TYPE_CHECKING  # noqa\n"
            "if TYPE_CHECKING:\n    import twt_backend.store  # noqa\n"
        )
    result = lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


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
