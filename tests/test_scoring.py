"""`twt score` and score_predictions: every task type, bad input, and MBPP's real test split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twt_backend.cli import main
from twt_backend.errors import DataError
from twt_backend.evaluation.scoring import read_predictions, score_predictions

MBPP_RECORDS = [
    {
        "task_id": 601 + i,
        "text": text,
        "code": code,
        "test_setup_code": "",
        "test_list": tests,
        "challenge_test_list": [],
    }
    for i, (text, code, tests) in enumerate(
        [
            ("Add one.", "def add_one(x):\n    return x + 1",
             ["assert add_one(1) == 2", "assert add_one(0) == 1", "assert add_one(-1) == 0"]),
            ("Double.", "def double(x):\n    return 2 * x",
             ["assert double(2) == 4", "assert double(0) == 0", "assert double(5) == 10"]),
            ("Square.", "def square(x):\n    return x * x",
             ["assert square(3) == 9", "assert square(0) == 0", "assert square(2) == 4"]),
            ("Negate.", "def negate(x):\n    return -x",
             ["assert negate(3) == -3", "assert negate(0) == 0", "assert negate(-2) == 2"]),
            ("Halve.", "def halve(x):\n    return x / 2",
             ["assert halve(4) == 2", "assert halve(0) == 0", "assert halve(1) == 0.5"]),
        ]
    )
]  # fmt: skip

CSQA_RECORDS = [
    {
        "answerKey": key,
        "id": f"q{i}",
        "question": {
            "question_concept": "thing",
            "stem": f"Question {i}?",
            "choices": [{"label": label, "text": text} for label, text in zip("ABC", options, strict=True)],
        },
    }
    for i, (key, options) in enumerate(
        [("A", ["bank", "library", "mall"]), ("B", ["red", "blue", "green"]),
         ("C", ["cat", "dog", "fish"]), ("A", ["up", "down", "left"])]
    )
]  # fmt: skip

GSM8K_RECORDS = [
    {"question": "What is 2 + 3?", "answer": "2 + 3 = 5\n#### 5"},
    {"question": "What is 10 * 12?", "answer": "10 * 12 = 120\n#### 120"},
    {"question": "Half of 7?", "answer": "7 / 2 = 3.5\n#### 3.5"},
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _score_cli(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["score", *argv, "--json", "--items"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if code == 0 else {})


def test_code_scoring_through_the_cli(tmp_path, capsys):
    dataset = _jsonl(tmp_path / "mbpp.jsonl", MBPP_RECORDS)
    predictions = _jsonl(
        tmp_path / "pred.jsonl",
        [
            {"task_id": 601, "completion": MBPP_RECORDS[0]["code"]},  # plain code
            {
                "task_id": 602,
                "completion": "Here you go:\n```python\ndef double(x):\n"
                "    return x + x\n```\nIt adds x to itself.\nscore: 0.9",
            },  # fmt: skip
            {"task_id": 603, "completion": "def square(x):\n    return x + x"},  # wrong
            {"task_id": 604, "completion": "def negate(x):\n    while True:\n        pass"},
        ],
    )
    code, result = _score_cli(
        capsys, "code", "--dataset", str(dataset), "--predictions", str(predictions),
        "--workers", "2", "--timeout", "5",  # 604 loops: a short wait, and room to start
    )  # fmt: skip
    assert code == 0
    assert (result["n"], result["correct"], result["missing"]) == (5, 2, 1)
    assert result["accuracy"] == pytest.approx(0.4)
    outcomes = {item["id"]: item["outcome"] for item in result["items"]}
    assert outcomes == {
        "601": "ok",
        "602": "ok",
        "603": "failed",
        "604": "timeout",
        "605": "missing",
    }
    assert result["protections"]["process_group"] is True


def test_choice_scoring(tmp_path):
    dataset = _jsonl(tmp_path / "csqa.jsonl", CSQA_RECORDS)
    predictions = _jsonl(
        tmp_path / "pred.jsonl",
        [
            {"id": "q0", "answer": "A"},
            {"id": "q1", "answer": "I think the answer is (B)."},
            {"id": "q2", "answer": "Answer: A"},
        ],
    )
    result = score_predictions("choice", dataset, predictions)
    assert (result["n"], result["correct"], result["missing"]) == (4, 2, 1)
    assert [item["correct"] for item in result["items"]] == [True, True, False, False]
    assert "protections" not in result


def test_math_scoring_with_generated_ids(tmp_path):
    dataset = _jsonl(tmp_path / "test.jsonl", GSM8K_RECORDS)
    predictions = _jsonl(
        tmp_path / "pred.jsonl",
        [
            {"id": "test-1", "answer": "2 + 3 = 5. The answer is 5."},
            {"id": "test-2", "answer": "#### 121"},
            {"id": "test-3", "answer": "So half is 3.50"},
        ],
    )
    result = score_predictions("math", dataset, predictions)
    assert (result["n"], result["correct"], result["missing"]) == (3, 2, 0)
    assert [item["correct"] for item in result["items"]] == [True, False, True]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"answer": "A"}', "missing 'id'"),
        ('{"id": "q0"}', "missing 'answer'"),
        ('{"id": "q0", "answer": 3}', "must be text"),
        ('{"id": "q1", "answer": "B"}', "duplicate id"),
    ],
)
def test_bad_prediction_lines_name_file_and_line(tmp_path, line, reason):
    path = tmp_path / "pred.jsonl"
    path.write_text('{"id": "q1", "answer": "A"}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_predictions(path, "choice")
    assert caught.value.line == 3 and reason in caught.value.reason


def test_cli_reports_bad_input_with_exit_2(tmp_path, capsys):
    dataset = _jsonl(tmp_path / "csqa.jsonl", CSQA_RECORDS)
    unknown = _jsonl(
        tmp_path / "pred.jsonl", [{"id": "q0", "answer": "A"}, {"id": "zz", "answer": "B"}]
    )
    assert main(["score", "choice", "--dataset", str(dataset), "--predictions", str(unknown)]) == 2
    assert f"{unknown}:2: id 'zz' is not in the dataset" in capsys.readouterr().err
    missing = tmp_path / "absent.jsonl"
    assert main(["score", "choice", "--dataset", str(missing), "--predictions", str(unknown)]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err
    assert main(["score", "choice", "--dataset", str(dataset), "--predictions", str(unknown),
                 "--workers", "0"]) == 2  # fmt: skip
    assert main(["score", "poetry", "--dataset", str(dataset), "--predictions", str(unknown)]) == 2


def test_human_output_is_a_table(tmp_path, capsys):
    dataset = _jsonl(tmp_path / "csqa.jsonl", CSQA_RECORDS)
    predictions = _jsonl(tmp_path / "pred.jsonl", [{"id": "q0", "answer": "A"}])
    assert (
        main(["score", "choice", "--dataset", str(dataset), "--predictions", str(predictions)]) == 0
    )
    out = capsys.readouterr().out
    assert "accuracy" in out and "0.2500" in out


def test_mbpp_test_split_references_pass_and_broken_ones_fail(shared_data, tmp_path, capsys):
    """The issue's check: reference solutions pass@1 >= 0.99 on task ids 11-510; broken ones 0."""
    mbpp = shared_data / "mbpp" / "mbpp.jsonl"
    if not mbpp.is_file():
        pytest.skip(f"{mbpp} not present")
    records = [json.loads(line) for line in mbpp.read_text().splitlines() if line.strip()]
    test_split = [r for r in records if 11 <= r["task_id"] <= 510]
    assert len(test_split) == 500
    references = _jsonl(
        tmp_path / "references.jsonl",
        [{"task_id": r["task_id"], "completion": r["code"]} for r in test_split],
    )
    code, result = _score_cli(
        capsys, "code", "--dataset", str(mbpp), "--predictions", str(references), "--split", "test"
    )
    assert code == 0 and result["n"] == 500 and result["missing"] == 0
    assert result["accuracy"] >= 0.99
    if result["protections"]["bwrap"]:
        assert result["protections"]["network"].startswith("isolated")

    from twt_backend.tasks.code import infer_entry_point

    broken = []
    for record in test_split[::5]:
        name = infer_entry_point(record["test_list"], record["test_setup_code"])
        stub = f"def {name}(*args, **kwargs):\n    return object()\n"
        broken.append({"task_id": record["task_id"], "completion": stub})
    broken_path = _jsonl(tmp_path / "broken.jsonl", broken)
    code, result = _score_cli(
        capsys, "code", "--dataset", str(mbpp), "--predictions", str(broken_path), "--split", "test"
    )
    assert code == 0 and result["correct"] == 0 and result["missing"] == 400
    assert result["outcomes"] == {"failed": 100, "missing": 400}
