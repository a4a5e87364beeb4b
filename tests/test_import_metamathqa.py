"""MetaMathQA: the reference is the answer after "The answer is:", not the first number."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from twt_backend.errors import DataError
from twt_backend.importers import import_file

# MetaMathQA's shape: a JSON array of {query, response, type, original_question}.
SAMPLE = [
    {
        "query": "Gloria has 3 boxes of 12 pens and gives away 5. How many pens are left?",
        "response": "She has 3 * 12 = 36 pens.\n36 - 5 = 31.\n#### 31\nThe answer is: 31",
        "type": "GSM_Rephrased",
        "original_question": "Gloria has 3 boxes of 12 pens ...",
    },
    {
        "query": "What is $\\frac{1}{2} + \\frac{1}{4}$?",
        "response": "We have 1/2 = 2/4, so the sum is 3/4.\nThe answer is: \\frac{3}{4}",
        "type": "MATH_AnsAug",
        "original_question": "What is $\\frac{1}{2} + \\frac{1}{4}$?",
    },
    {
        "query": "A shirt costs $20 after a 20% discount. What was the price?",
        "response": "Let x be the price; 0.8x = 20. The answer is: 4 is wrong.\n"
        "x = 25.\nThe answer is: $25",
        "type": "GSM_FOBAR",
        "original_question": "...",
    },
]


def write(path: Path, rows: list) -> Path:
    path.write_text(json.dumps(rows, indent=2), "utf-8")
    return path


def references(project) -> list[tuple[str, str]]:
    rows = project.rows("SELECT payload, reference FROM queries ORDER BY id")
    return [(json.loads(r["payload"])["question"], r["reference"]) for r in rows]


def test_reference_is_the_final_answer_not_the_first_number(project, tmp_path):
    path = write(tmp_path / "MetaMathQA-sample.json", SAMPLE)
    result = import_file(project, path)  # detected from the record's shape
    assert (result.format, result.added) == ("metamathqa", 3)
    got = references(project)
    assert [ref for _, ref in got] == ["31", "0.75", "25"]
    assert got[0][0] == SAMPLE[0]["query"]


def test_record_without_the_marker_is_refused_with_its_line(project, tmp_path):
    rows = [SAMPLE[0], dict(SAMPLE[1], response="So the sum is 3/4.")]
    path = write(tmp_path / "bad.json", rows)
    with pytest.raises(DataError) as info:
        import_file(project, path, fmt="metamathqa")
    assert info.value.line == 8  # "[", then the first record on lines 2-7 (indent=2)
    assert "The answer is:" in info.value.reason
    assert str(info.value).startswith(f"{path}:{info.value.line}: ")
    assert project.scalar("SELECT COUNT(*) FROM queries") == 0


@pytest.mark.parametrize("answer", ["(1, 2)", "2x + 3", "5\\sqrt{2}", "[1,3)", ""])
def test_an_answer_that_is_not_one_number_is_refused(project, tmp_path, answer):
    rows = [dict(SAMPLE[1], response=f"Done.\nThe answer is: {answer}")]
    path = write(tmp_path / "expr.json", rows)
    with pytest.raises(DataError) as info:
        import_file(project, path, fmt="metamathqa")
    assert info.value.line is not None
    assert "not a number" in info.value.reason or "nothing after" in info.value.reason
    assert project.scalar("SELECT COUNT(*) FROM queries") == 0


def test_cli_format_option(project, tmp_path):
    path = write(tmp_path / "mm.json", SAMPLE[:1])
    project.close()
    done = subprocess.run(
        [sys.executable, "-m", "twt_backend", "import", str(project.root), str(path),
         "--format", "metamathqa", "--split", "test"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "MetaMathQA" in done.stdout
    bad = write(tmp_path / "nomarker.json", [dict(SAMPLE[0], response="31")])
    done = subprocess.run(
        [sys.executable, "-m", "twt_backend", "import", str(project.root), str(bad),
         "--format", "metamathqa"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and f"{bad}:" in done.stderr
