"""Review statistics: histograms, reason counts, calibration, teacher summary."""

from __future__ import annotations

import pytest
from test_selection_support import add_generation, add_query, add_teacher

from twt_backend.config import SelectionConfig
from twt_backend.selection.curation import set_override
from twt_backend.selection.run import run_selection
from twt_backend.selection.stats import (
    ALL_TEACHERS,
    calibration,
    confidence_histograms,
    reason_counts,
    similarity_matrix,
    teacher_summary,
)


@pytest.fixture
def labelled(project):
    """Two teachers on four math queries with references; `a` is right when confident."""
    a, b = add_teacher(project, "a"), add_teacher(project, "b")
    ids = {}
    for n, (conf_a, ans_a, conf_b, ans_b) in enumerate(
        [
            (0.99, "10", 0.97, "11"),
            (0.96, "11", 0.5, "11"),
            (0.4, "99", 0.98, "13"),
            (None, "13", 1.0, "14"),
        ]
    ):
        q = add_query(project, f"q{n}", str(10 + n))
        status = "ok" if conf_a is not None else "no_confidence"
        ids[("a", n)] = add_generation(project, q, a, f"r{n}", ans_a, conf_a, parse_status=status)
        ids[("b", n)] = add_generation(project, q, b, f"s{n}", ans_b, conf_b)
    add_generation(project, q, b, "", None, None, parse_status="empty")
    return ids


def test_confidence_histograms(project, labelled):
    hist = confidence_histograms(project, bins=10)
    assert set(hist) == {"a", "b"}
    assert hist["a"]["counts"][9] == 2 and hist["a"]["counts"][4] == 1 and hist["a"]["missing"] == 1
    assert hist["b"]["counts"][9] == 3  # 0.97, 0.98 and 1.0 share the last bin
    assert hist["b"]["counts"][5] == 1 and hist["b"]["missing"] == 1 and hist["b"]["n"] == 5
    assert hist["a"]["edges"][0] == 0.0 and hist["a"]["edges"][-1] == 1.0


def test_reason_counts_and_summary(project, labelled):
    assert reason_counts(project)["unselected"] == 9
    run_selection(project, SelectionConfig(strategy="quality"))
    set_override(project, labelled[("b", 1)], "accept")
    counts = reason_counts(project)
    assert counts["kept"] == {"quality": 5}
    assert counts["rejected"] == {
        "low_confidence": 2,
        "no_confidence": 1,
        "parse_failed:empty": 1,
    }
    assert counts["overrides"] == {"accept": 1, "reject": 0}
    assert counts["effective_kept"] == 6 and counts["total"] == 9
    summary = {row["teacher"]: row for row in teacher_summary(project)}
    assert summary["a"]["outputs"] == 4 and summary["a"]["kept"] == 2
    assert summary["b"]["accepted"] == 1 and summary["b"]["kept"] == 4
    assert summary["b"]["parse_failed"] == 1


def test_calibration_compares_kept_and_rejected(project, labelled):
    run_selection(project, SelectionConfig(strategy="quality"))
    rows = calibration(project, bins=10)
    top_a = next(r for r in rows if r["teacher"] == "a" and r["low"] == 0.9)
    assert top_a["kept_n"] == 2 and top_a["kept_correct"] == 2 and top_a["kept_accuracy"] == 1.0
    assert top_a["rejected_n"] == 0 and top_a["rejected_accuracy"] is None
    low_a = next(r for r in rows if r["teacher"] == "a" and r["low"] == 0.4)
    assert low_a["rejected_n"] == 1 and low_a["rejected_accuracy"] == 0.0
    top_b = next(r for r in rows if r["teacher"] == "b" and r["low"] == 0.9)
    assert top_b["kept_n"] == 3 and top_b["kept_correct"] == 0
    top_all = next(r for r in rows if r["teacher"] == ALL_TEACHERS and r["low"] == 0.9)
    assert top_all["n"] == 5 and top_all["accuracy"] == pytest.approx(2 / 5)


def test_calibration_is_empty_for_code(tmp_path):
    from conftest import make_project

    project = make_project(tmp_path / "code", "code")
    t = add_teacher(project, "a")
    q = add_query(project, "code q", "assert f() == 1", payload={"text": "x", "tests": []})
    add_generation(project, q, t, "r", "def f(): return 1", 0.99)
    assert calibration(project) == []
    project.close()


def test_similarity_matrix_without_diversity(project, labelled):
    matrix = similarity_matrix(project, 1)
    assert matrix["generation_ids"] == [] and matrix["kept_pair"] is None
