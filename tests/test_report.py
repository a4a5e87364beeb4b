"""Stages against baselines: comparison numbers, intersection, report files, `twt report`."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from twt_backend.cli import main
from twt_backend.config import TeacherConfig
from twt_backend.evaluation.report import comparison, per_query, token_counts, write_report
from twt_backend.store import Project, utcnow

FAKE_KEY = "sk-fake-report-secret-0123456789abcdef"
URL_PASSWORD = "hunter2urlpass"

# method -> [(tokens, correct)] for queries 1..4 (and 5 for stage3 only)
RESULTS = {
    "stage0": [(100, 1), (120, 0), (80, 0), (100, 0)],  # acc 0.25, 100 tokens
    "kd": [(10, 1), (10, 1), (10, 0), (10, 0)],  # acc 0.50, 10 tokens
    "stage1": [(200, 1), (200, 1), (200, 1), (200, 0)],  # acc 0.75, 200 tokens
    "stage3": [(20, 1), (20, 1), (20, 1), (40, 1), (1000, 0)],  # acc 1.0, 25 tokens on q1..4
}


def add_queries(project: Project, n: int) -> list[int]:
    with project.transaction() as conn:
        for i in range(1, n + 1):
            conn.execute(
                "INSERT INTO queries(id, source_id, split, payload, reference, content_hash, "
                "created_at) VALUES (?, ?, 'test', ?, ?, ?, ?)",
                (i, f"q{i}", json.dumps({"question": f"{i} + 1?"}), str(i + 1), f"h{i}", utcnow()),
            )
    return list(range(1, n + 1))


def add_results(project: Project, results: dict[str, list[tuple[int, int]]]) -> None:
    with project.transaction() as conn:
        for method, values in results.items():
            for query_id, (tokens, correct) in enumerate(values, start=1):
                conn.execute(
                    "INSERT INTO eval_results(method, query_id, output, answer, tokens, correct,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (method, query_id, f"{method} says {query_id}", str(query_id), tokens, correct,
                     utcnow()),
                )  # fmt: skip


def add_teacher(project: Project, monkeypatch) -> None:
    monkeypatch.setenv("TWT_TEST_REPORT_KEY", FAKE_KEY)
    config = TeacherConfig(
        name="gpt-teacher",
        provider="openai",
        model="gpt-4o-mini",
        api_key_env="TWT_TEST_REPORT_KEY",
        base_url=f"http://alice:{URL_PASSWORD}@localhost:8000/v1?token={URL_PASSWORD}",
    )
    with project.transaction() as conn:
        conn.execute(
            "INSERT INTO teachers(name, provider, model, config, created_at) VALUES (?,?,?,?,?)",
            (config.name, config.provider, config.model,
             json.dumps(dataclasses.asdict(config)), utcnow()),
        )  # fmt: skip


@pytest.fixture
def filled(project):
    add_queries(project, 5)
    add_results(project, RESULTS)
    return project


def by_method(rows):
    return {r["method"]: r for r in rows}


def test_comparison_numbers_on_common_queries(filled):
    rows = comparison(filled)
    assert [r["method"] for r in rows] == ["stage0", "kd", "stage1", "stage3"]
    table = by_method(rows)
    assert {r["n"] for r in rows} == {4}  # q5 only has a stage-3 result
    assert table["stage3"]["n_total"] == 5 and table["stage0"]["n_total"] == 4
    assert table["stage0"]["accuracy"] == pytest.approx(0.25)
    assert table["stage0"]["mean_output_tokens"] == pytest.approx(100.0)
    assert table["stage3"]["accuracy"] == pytest.approx(1.0)
    assert table["stage3"]["mean_output_tokens"] == pytest.approx(25.0)
    assert table["stage3"]["correct"] == 4
    # stage 1 is full-reasoning SFT when no separate sft result exists: the best baseline.
    assert table["stage1"]["display"] == "Full-reasoning SFT (stage 1)"
    assert table["stage1"]["kind"] == "baseline"
    assert [r["method"] for r in rows if r["best_baseline"]] == ["stage1"]
    assert table["stage3"]["delta_accuracy_pts"] == pytest.approx(100 * (1.0 - 0.75))
    assert table["stage3"]["delta_tokens_pct"] == pytest.approx(100 * (25 - 200) / 200)
    assert table["kd"]["delta_accuracy_pts"] == pytest.approx(100 * (0.5 - 0.75))
    assert table["kd"]["delta_tokens_pct"] == pytest.approx(100 * (10 - 200) / 200)
    assert table["stage1"]["delta_accuracy_pts"] == 0.0
    assert table["stage3"]["display"].startswith("TwT stage 3")


def test_separate_sft_is_the_baseline_and_stage1_is_twt(filled):
    add_results(filled, {"sft": [(50, 1), (50, 1), (50, 0), (50, 0)]})
    table = by_method(comparison(filled))
    assert table["sft"]["display"] == "Full-reasoning SFT"
    assert table["stage1"]["kind"] == "twt"
    assert table["stage1"]["display"] == "TwT stage 1 (full reasoning)"
    # best of vanilla (0.25), kd (0.5, 10 tok), sft (0.5, 50 tok): tie on accuracy -> fewer tokens
    assert [m for m, r in table.items() if r["best_baseline"]] == ["kd"]
    assert table["stage1"]["delta_accuracy_pts"] == pytest.approx(25.0)
    assert table["stage1"]["delta_tokens_pct"] == pytest.approx(100 * (200 - 10) / 10)


def test_method_subset_and_token_counts(filled):
    rows = comparison(filled, methods=["stage0", "stage3"])
    assert [r["method"] for r in rows] == ["stage0", "stage3"]
    assert rows[0]["best_baseline"]
    assert rows[1]["delta_tokens_pct"] == pytest.approx(-75.0)
    assert sorted(token_counts(filled)["stage3"]) == [20, 20, 20, 40]


def test_no_baseline_gives_no_deltas(project):
    add_queries(project, 2)
    add_results(project, {"stage2": [(5, 1), (7, 0)]})
    (row,) = comparison(project)
    assert row["accuracy"] == 0.5 and row["mean_output_tokens"] == 6.0
    assert row["delta_accuracy_pts"] is None and not row["best_baseline"]


def test_per_query_drill_down(filled):
    answers = per_query(filled, 5)
    assert list(answers) == ["stage3"]
    answers = per_query(filled, 2)
    assert list(answers) == ["stage0", "kd", "stage1", "stage3"]
    assert answers["stage0"] == {
        "output": "stage0 says 2", "answer": "2", "correct": False, "tokens": 120,
        "stale": False,
    }  # fmt: skip
    assert answers["kd"]["correct"] is True


def test_write_report_files(filled, tmp_path, monkeypatch):
    add_teacher(filled, monkeypatch)
    html_path = write_report(filled, tmp_path / "out")
    out = html_path.parent
    html = html_path.read_text("utf-8")
    assert html.count('src="data:image/png;base64,') == 3
    for text in ("Full-reasoning SFT (stage 1)", "100.0", "+25.0", "-87.5%", "gpt-4o-mini"):
        assert text in html
    for name in ("accuracy_vs_tokens.png", "accuracy.png", "token_histograms.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "comparison.csv", encoding="utf-8") as handle:
        csv_rows = {r["method"]: r for r in csv.DictReader(handle)}
    assert float(csv_rows["stage3"]["accuracy"]) == 1.0
    assert float(csv_rows["stage3"]["delta_tokens_pct"]) == pytest.approx(-87.5)
    data = json.loads((out / "comparison.json").read_text("utf-8"))
    assert data["n_common"] == 4 and data["best_baseline"] == "stage1"
    assert by_method(data["rows"])["kd"]["mean_output_tokens"] == 10.0
    assert data["config"]["teachers"][0]["base_url"] == "http://localhost:8000/v1"
    assert_no_secret(out)


def assert_no_secret(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert FAKE_KEY.encode() not in data, path
            assert URL_PASSWORD.encode() not in data, path


def test_empty_project_report(project, tmp_path):
    html_path = write_report(project, tmp_path / "empty")
    html = html_path.read_text("utf-8")
    assert "No evaluation results yet" in html
    assert "--stage 0" in html and "--split test" in html
    assert "data:image/png" not in html
    assert not list(html_path.parent.glob("*.png"))
    lines = (html_path.parent / "comparison.csv").read_text("utf-8").splitlines()
    assert lines == [lines[0]] and lines[0].startswith("method,display")
    assert json.loads((html_path.parent / "comparison.json").read_text())["rows"] == []


def test_cli_report(filled, capsys):
    root = filled.root
    assert main(["report", str(root)]) == 0
    out = capsys.readouterr().out
    assert str(root / "artifacts" / "report" / "report.html") in out
    assert "TwT stage 3" in out and "+25.0" in out
    assert (root / "artifacts" / "report" / "comparison.json").is_file()


def test_cli_report_bad_input(tmp_path, project, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "not a TwT project" in capsys.readouterr().err
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["report", str(project.root), "--out", str(blocker)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a folder" in err


def test_cli_report_empty_project(project, tmp_path, capsys):
    assert main(["report", str(project.root), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "no evaluation results yet" in out and (tmp_path / "r" / "report.html").is_file()


def test_disjoint_query_sets_are_not_compared(project, tmp_path):
    add_queries(project, 2)
    add_results(project, {"stage0": [(5, 1)]})
    with project.transaction() as conn:
        conn.execute(
            "INSERT INTO eval_results(method, query_id, tokens, correct, created_at)"
            " VALUES ('stage3', 2, 9, 1, ?)",
            (utcnow(),),
        )
    rows = comparison(project)
    assert [(r["n"], r["n_total"], r["accuracy"]) for r in rows] == [(0, 1, None), (0, 1, None)]
    html = write_report(project, tmp_path / "disjoint").read_text("utf-8")
    assert "No common queries" in html and "data:image/png" not in html


# ---- intervals and the JSON rows ---------------------------------------------------------------
def test_wilson_interval_matches_the_formula_and_its_edges():
    from twt_backend.evaluation.report import wilson_interval

    low, high = wilson_interval(20, 50)  # p = 0.4, z = 1.96: 0.2761 .. 0.5382 by hand
    assert low == pytest.approx(0.2761, abs=1e-4) and high == pytest.approx(0.5382, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and 0.25 < high < 0.35  # never below 0
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and 0.65 < low < 0.75  # nor above 1
    assert wilson_interval(0, 0) == (None, None)


def test_rows_carry_their_interval_and_prompt_mode(filled):
    table = by_method(comparison(filled))
    for row in table.values():
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
    # 4 queries are few: stage 3's 4/4 is far from certain
    assert table["stage3"]["ci_low"] == pytest.approx(0.5101, abs=1e-4)
    assert table["stage0"]["prompt_mode"] is None  # stored without one (as before migration)


def test_cli_report_json(filled, capsys, tmp_path):
    assert main(["report", str(filled.root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["stage0", "kd", "stage1", "stage3"]
    for row in rows:
        assert row["project"] == str(filled.root)
        assert {"n", "correct", "accuracy", "ci_low", "ci_high", "mean_output_tokens",
                "prompt_mode", "kind"} <= set(row)  # fmt: skip
    assert not (filled.root / "artifacts" / "report").exists()  # JSON only, no files
    assert main(["report", str(filled.root), "--json", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "comparison.json").is_file()


def test_stage_under_another_prompt_mode_is_its_own_row(filled):
    with filled.transaction() as conn:
        for query_id in range(1, 5):
            conn.execute(
                "INSERT INTO eval_results(method, query_id, tokens, correct, prompt_mode,"
                " created_at) VALUES ('stage3@full', ?, 60, 1, 'full', ?)",
                (query_id, utcnow()),
            )
    table = by_method(comparison(filled))
    assert list(table)[-2:] == ["stage3", "stage3@full"]
    assert table["stage3@full"]["kind"] == "twt"
    assert table["stage3@full"]["prompt_mode"] == "full"
    assert table["stage3@full"]["display"].endswith("asked in prompt mode full")
