"""The Compare page's runs side by side: method x run, accuracy [interval] and tokens."""

from __future__ import annotations

import pytest

from tests.gui_helpers import add_eval_rows, add_queries, settings, window  # noqa: F401
from twt_backend.store import Project, variants
from twt_gui.pages.compare_ctl import side_by_side

pytestmark = pytest.mark.gui


def test_runs_side_by_side_on_the_compare_page(window, tmp_path) -> None:  # noqa: F811
    root = tmp_path / "p"
    with Project.create(root, "math", "runs") as project:
        add_queries(project, 4, split_every=1)
        add_eval_rows(project, "stage1", [1, 1, 1, 1], 80)
        add_eval_rows(project, "stage3", [1, 1, 0, 0], 10)
        with variants.create_run(project, "nocomp", {"pipeline": {"skip_stages": [2]}}) as run:
            add_eval_rows(run, "stage3", [1, 1, 1, 0], 30)
    window.page("Projects").controller.open(root)
    compare = window.show_page("Compare")
    assert compare.tables.isTabVisible(1)
    header, *lines = compare.runs_table_cells()
    assert header == ["Method", "main", "nocomp"]
    by_method = {line[0]: line[1:] for line in lines}
    stage1 = next(k for k in by_method if "stage 1" in k)
    stage3 = next(k for k in by_method if "stage 3" in k)
    assert by_method[stage1][0].startswith("100.0% [") and "80 tokens" in by_method[stage1][0]
    assert by_method[stage1][1] == "—"  # the run has no stage 1 result
    assert by_method[stage3][0].startswith("50.0% [") and by_method[stage3][0].endswith(
        "· 10 tokens"
    )
    assert by_method[stage3][1].startswith("75.0% [") and "30 tokens" in by_method[stage3][1]


def test_a_project_without_named_runs_has_no_side_by_side_tab(window, tmp_path) -> None:  # noqa: F811
    root = tmp_path / "p"
    with Project.create(root, "math", "one") as project:
        add_queries(project, 2, split_every=1)
        add_eval_rows(project, "stage3", [1, 0], 10)
    window.page("Projects").controller.open(root)
    compare = window.show_page("Compare")
    assert not compare.tables.isTabVisible(1)


def test_side_by_side_groups_rows_by_method_and_run() -> None:
    def row(run: str, method: str, accuracy: float, tokens: float, **extra):
        return {"run": run, "method": method, "display": method.upper(), "accuracy": accuracy,
                "ci_low": accuracy - 0.1, "ci_high": accuracy + 0.1,
                "mean_output_tokens": tokens, **extra}  # fmt: skip

    rows = [row("main", "stage3", 0.5, 10), row("a", "stage1", 0.9, 90),
            row("a", "stage3", 0.6, 12, stale=True)]  # fmt: skip
    headers, lines = side_by_side(rows, ["main", "a", "b"])
    assert headers == ["Method", "main", "a", "b"]
    assert lines == [
        ["STAGE3", "50.0% [40.0%–60.0%] · 10 tokens", "60.0% [50.0%–70.0%] · 12 tokens ⚠ stale",
         "—"],
        ["STAGE1", "—", "90.0% [80.0%–100.0%] · 90 tokens", "—"],
    ]  # fmt: skip
