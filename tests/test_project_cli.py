"""`twt init`, `twt import`, `twt queries`: exit codes, messages, output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twt_backend.cli import main
from twt_backend.store import Project

REPO_ROOT = Path(__file__).resolve().parents[1]
GSM_ROWS = [
    {"question": "What is 6 times 7?", "answer": "6*7 = <<6*7=42>>42\n#### 42"},
    {"question": "What is 10 minus 3?", "answer": "10-3 = <<10-3=7>>7\n#### 7"},
]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def gsm_file(tmp_path: Path, name: str = "train.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(row) + "\n" for row in GSM_ROWS), "utf-8")
    return path


@pytest.fixture
def math_dir(tmp_path, capsys) -> Path:
    root = tmp_path / "proj"
    assert run_cli(capsys, "init", root, "--task", "math", "--name", "Demo")[0] == 0
    return root


def count(root: Path) -> int:
    with Project.open(root) as project:
        return project.scalar("SELECT COUNT(*) FROM queries")


def test_init_creates_a_project_and_refuses_a_second_time(math_dir, capsys):
    with Project.open(math_dir) as project:
        assert (project.task, project.name) == ("math", "Demo")
    code, _, err = run_cli(capsys, "init", math_dir, "--task", "math")
    assert code == 2 and "already exists" in err


def test_init_refuses_an_unknown_task(tmp_path, capsys):
    code, _, err = run_cli(capsys, "init", tmp_path / "p", "--task", "poetry")
    assert code == 2 and "invalid choice" in err
    assert not (tmp_path / "p").exists()


def test_import_prints_counts_and_is_idempotent(math_dir, tmp_path, capsys):
    path = gsm_file(tmp_path)
    code, out, _ = run_cli(capsys, "import", math_dir, path)
    assert code == 0
    assert "read 2, added 2, already present 0" in out and "GSM8K" in out
    code, out, _ = run_cli(capsys, "import", math_dir, path)
    assert code == 0 and "read 2, added 0, already present 2" in out
    assert count(math_dir) == 2


def test_import_of_a_test_file_without_split_warns(math_dir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "import", math_dir, gsm_file(tmp_path, "test.jsonl"))
    assert code == 0 and "--split test" in err
    code, _, err = run_cli(
        capsys, "import", math_dir, gsm_file(tmp_path, "test.jsonl"), "--split", "test"
    )
    assert code == 0 and "--split test" not in err


def test_bad_file_exits_2_with_file_line_reason_and_imports_nothing(math_dir, tmp_path, capsys):
    path = gsm_file(tmp_path)
    path.write_text(path.read_text() + '{"question": "broken"}\n', "utf-8")
    code, out, err = run_cli(capsys, "import", math_dir, path)
    assert code == 2
    assert f"{path}:3: missing field 'answer'" in err
    assert len(err.strip().splitlines()) == 1 and out == ""
    assert count(math_dir) == 0


def test_import_into_a_missing_project_exits_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "import", tmp_path / "none", gsm_file(tmp_path))
    assert code == 2 and "not a TwT project" in err


def test_csv_with_mapping_and_source_id_field(math_dir, tmp_path, capsys):
    path = tmp_path / "mine.csv"
    path.write_text("key,problem,solution\nk1,2+2?,4\nk2,3+3?,6\n", "utf-8")
    argv = ["import", math_dir, path, "--map", "question=problem", "--map", "reference=solution"]
    code, out, _ = run_cli(capsys, *argv, "--source-id-field", "key", "--split", "test")
    assert code == 0 and "generic CSV" in out
    code, out, _ = run_cli(capsys, "queries", math_dir, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["source_id"], r["split"], r["reference"]) for r in rows] == [
        ("k1", "test", "4"),
        ("k2", "test", "6"),
    ]
    assert rows[0]["payload"] == {"question": "2+2?"}
    code, _, err = run_cli(capsys, "import", math_dir, path, "--map", "nonsense=problem")
    assert code == 2 and "not a field of math" in err


def test_queries_lists_and_filters_by_split(math_dir, tmp_path, capsys):
    run_cli(capsys, "import", math_dir, gsm_file(tmp_path))
    run_cli(capsys, "import", math_dir, gsm_file(tmp_path), "--split", "test")
    code, out, err = run_cli(capsys, "queries", math_dir, "--split", "test", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 2
    assert set(rows[0]) == {"id", "source_id", "split", "payload", "reference"}
    assert {r["split"] for r in rows} == {"test"}
    assert [r["reference"] for r in rows] == ["42", "7"]
    code, out, err = run_cli(capsys, "queries", math_dir)
    assert code == 0 and len(out.splitlines()) == 4 and "What is 6 times 7?" in out
    assert "4 queries" in err


def test_real_entry_point_exit_codes(tmp_path):
    """The `python -m twt_backend` entry: 0 on success, 2 with one line on bad data."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    def twt(*argv: object) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "twt_backend", *map(str, argv)]
        return subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=60
        )

    root = tmp_path / "p"
    assert twt("init", root, "--task", "math").returncode == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"question": "x", "answer": "#### 1"}\n\xff\xfe\n')
    result = twt("import", root, bad)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"twt: error: {bad}:2: not valid UTF-8 (byte 0xff); save the file as UTF-8"
    )
    assert twt("import", root, gsm_file(tmp_path)).returncode == 0
    assert count(root) == 2
