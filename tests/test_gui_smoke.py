"""`twt-studio --smoke-test` visits every page and writes a non-trivial PNG per page."""

from __future__ import annotations

import pytest

from tests.gui_helpers import add_queries, image_colours
from twt_backend.store import Project

pytestmark = pytest.mark.gui


def test_smoke_test_saves_one_png_per_page(qapp, tmp_path):
    from twt_gui.app import main
    from twt_gui.main_window import PAGE_CLASSES

    project = Project.create(tmp_path / "proj", "math", "smoke")
    add_queries(project, 40)
    project.close()
    out = tmp_path / "shots"

    assert main(["--smoke-test", str(tmp_path / "proj"), "--screenshots", str(out)]) == 0

    pngs = sorted(out.glob("*.png"))
    assert [p.stem.split("-", 1)[1] for p in pngs] == [c.title.lower() for c in PAGE_CLASSES]
    for png in pngs:
        assert image_colours(png) > 8, f"{png.name} looks blank"


def test_smoke_test_without_dir_opens_demo_or_empty_state(qapp, tmp_path):
    from twt_gui.app import main

    out = tmp_path / "shots"
    assert main(["--smoke-test", "--screenshots", str(out)]) == 0
    assert len(list(out.glob("*.png"))) == 7


def test_bad_project_dir_exits_2(qapp, tmp_path, capsys):
    from twt_gui.app import main

    assert main(["--smoke-test", str(tmp_path / "missing")]) == 2
    assert "not a TwT project" in capsys.readouterr().err
