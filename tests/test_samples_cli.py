"""`twt select` and `twt samples`: JSON listing, overrides, edits and exit codes."""

from __future__ import annotations

import json

import pytest
from test_selection_support import add_generation, add_query, add_teacher

from twt_backend.cli import main
from twt_backend.store import Project

KEYS = {"id", "query_id", "teacher", "rationale", "answer", "confidence", "parse_status"}


@pytest.fixture
def labelled(project):
    t = [add_teacher(project, f"t{i}") for i in range(3)]
    q1, q2 = add_query(project, "apples", "15"), add_query(project, "trains", "180")
    ids = [
        add_generation(
            project, q1, t[0], "Twelve plus eight is twenty; minus five is 15.", "15", 0.99
        ),
        add_generation(
            project, q1, t[1], "Add the apples, then remove the eaten ones.", "15", 0.97
        ),
        add_generation(
            project, q1, t[2], "Photosynthesis has nothing to do with it; 15.", "15", 0.96
        ),
        add_generation(project, q2, t[0], "60 miles an hour for 3 hours is 180 miles.", "180", 0.5),
        add_generation(project, q2, t[1], "", None, None, parse_status="no_answer"),
    ]
    return project.root, ids


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_samples_json_lists_every_generation(capsys, labelled):
    root, ids = labelled
    code, out, _ = run_cli(capsys, "samples", str(root), "--json")
    rows = json_lines(out)
    assert code == 0 and [r["id"] for r in rows] == ids
    for row in rows:
        assert KEYS | {"selected", "override"} <= set(row)
        assert row["selected"] is False and row["override"] is None
    assert rows[0]["rationale"].startswith("Twelve") and rows[0]["teacher"] == "t0"


def test_select_quality_then_filter_and_override(capsys, labelled):
    root, ids = labelled
    code, out, _ = run_cli(capsys, "select", str(root), "--strategy", "quality")
    assert code == 0 and "t0" in out and "total" in out and "low_confidence" in out

    code, out, _ = run_cli(capsys, "samples", str(root), "--selected", "--json")
    assert code == 0 and [r["id"] for r in json_lines(out)] == ids[:3]
    code, out, _ = run_cli(capsys, "samples", str(root), "--rejected", "--query", "2", "--json")
    assert [r["id"] for r in json_lines(out)] == ids[3:]

    code, out, _ = run_cli(
        capsys, "samples", "override", str(root), str(ids[3]), "--accept", "--note", "checked"
    )
    assert code == 0
    code, out, _ = run_cli(capsys, "samples", "override", str(root), str(ids[0]), "--reject")
    assert code == 0
    code, out, _ = run_cli(capsys, "samples", str(root), "--selected", "--json")
    selected = json_lines(out)
    assert [r["id"] for r in selected] == [ids[1], ids[2], ids[3]]
    assert selected[-1]["override"] == "accept" and selected[-1]["override_note"] == "checked"

    code, out, _ = run_cli(
        capsys, "samples", "edit", str(root), str(ids[3]), "--rationale", "3 x 60 = 180."
    )
    assert code == 0
    code, out, _ = run_cli(
        capsys, "select", str(root), "--strategy", "quality", "--threshold", "0.4"
    )
    assert code == 0
    code, out, _ = run_cli(capsys, "samples", str(root), "--query", "2", "--json")
    edited = json_lines(out)[0]
    assert edited["rationale"] == "3 x 60 = 180." and edited["override"] == "accept"
    code, out, _ = run_cli(capsys, "samples", str(root))
    assert code == 0 and "t0" in out
    with Project.open(root) as project:
        assert project.scalar("SELECT COUNT(*) FROM audit_log") == 3
        assert project.scalar("SELECT status FROM jobs ORDER BY id DESC LIMIT 1") == "finished"


@pytest.mark.parametrize(
    "argv",
    [
        ["samples", "override", "{root}", "999", "--accept"],
        ["samples", "override", "{root}", "1", "--accept", "--reject"],
        ["samples", "override", "{root}", "1"],
        ["samples", "override", "{root}", "one", "--accept"],
        ["samples", "{root}", "--accept"],
        ["samples", "{root}", "--selected", "--rejected"],
        ["samples", "edit", "{root}", "1"],
        ["select", "{root}", "--threshold", "1.5"],
        ["select", "{root}", "--threshold", "high"],
        ["select", "{root}", "--strategy", "best"],
        ["select", "{root}", "--min-teachers", "1"],
    ],
)
def test_bad_input_exits_2_and_changes_nothing(capsys, labelled, argv):
    root, _ = labelled
    code, out, err = run_cli(capsys, *(a.format(root=root) for a in argv))
    assert code == 2 and err.startswith("twt: error:") and len(err.strip().splitlines()) == 1
    with Project.open(root) as project:
        assert project.scalar("SELECT COUNT(*) FROM selections") == 0
        assert project.scalar("SELECT COUNT(*) FROM audit_log") == 0
        assert project.scalar("SELECT COUNT(*) FROM jobs") == 0


def test_missing_project_exits_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "samples", str(tmp_path / "nowhere"), "--json")
    assert code == 2 and "not a TwT project" in err
