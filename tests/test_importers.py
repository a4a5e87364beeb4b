"""Importing queries: every format, detection, splits, validation, idempotence, real data."""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import pytest
from conftest import make_project

from twt_backend.errors import DataError, UsageError
from twt_backend.importers import import_file, parse_file, parse_mapping


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


def queries(project) -> list[dict]:
    rows = project.rows("SELECT source_id, split, payload, reference FROM queries ORDER BY id")
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


@pytest.fixture
def code_project(tmp_path):
    with make_project(tmp_path / "code", "code") as project:
        yield project


@pytest.fixture
def choice_project(tmp_path):
    with make_project(tmp_path / "choice", "choice") as project:
        yield project


MBPP_ROW = {
    "text": "Write a function to add two numbers.",
    "code": "def add(a, b):\r\n    return a + b",
    "task_id": 600,
    "test_setup_code": "",
    "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"],
    "challenge_test_list": [],
}
CSQA_ROW = {
    "answerKey": "C",
    "id": "q1",
    "question": {
        "question_concept": "kitchen",
        "choices": [{"label": x, "text": t} for x, t in zip("ABCDE", "abcde", strict=True)],
        "stem": "Where is the oven?",
    },
}
GSM_ROW = {
    "question": "How much?",
    "answer": "It costs 1,000 + 250.50 = <<1000+250.5=1250.5>>1250.5\n#### 1,250.50",
}


# ---- known formats ------------------------------------------------------------------------
def test_mbpp_jsonl(code_project, tmp_path):
    rows = [dict(MBPP_ROW, task_id=n) for n in (3, 11, 511, 601)]
    rows[1]["test_setup_code"] = "import math"
    result = import_file(code_project, write_jsonl(tmp_path / "mbpp.jsonl", rows))
    assert (result.format, result.read, result.added, result.present) == ("mbpp", 4, 4, 0)
    got = queries(code_project)
    assert [q["split"] for q in got] == ["fewshot", "test", "validation", "train"]
    assert [q["source_id"] for q in got] == ["3", "11", "511", "601"]
    assert got[0]["payload"] == {
        "text": "Write a function to add two numbers.",
        "tests": MBPP_ROW["test_list"],
        "test_setup": "",
        "entry_point": "add",
    }
    assert got[1]["payload"]["test_setup"] == "import math"
    assert got[0]["reference"] == "def add(a, b):\n    return a + b"


def test_sanitized_mbpp_json_array(code_project, tmp_path):
    items = [
        {"task_id": 2, "prompt": "Shared items.", "code": "def shared(a, b):\n    return set(a) & set(b)",
         "test_imports": ["import math"], "test_list": ["assert set(shared([1], [1])) == {1}"]},
        {"task_id": 700, "prompt": "Other.", "code": "def other():\n    return 1",
         "test_imports": [], "test_list": ["assert other() == 1"]},
    ]  # fmt: skip
    path = tmp_path / "sanitized.json"
    path.write_text(json.dumps(items, indent=1), "utf-8")
    result = import_file(code_project, path)
    assert result.format == "mbpp" and result.added == 2
    first, second = queries(code_project)
    assert first["payload"]["text"] == "Shared items."
    assert first["payload"]["test_setup"] == "import math"
    assert first["payload"]["entry_point"] == "shared"  # not the builtin `set` called first
    assert (first["split"], second["split"]) == ("fewshot", "train")


def test_csqa(choice_project, tmp_path):
    result = import_file(choice_project, write_jsonl(tmp_path / "dev.jsonl", [CSQA_ROW]))
    assert (result.format, result.added) == ("csqa", 1)
    [query] = queries(choice_project)
    assert query["source_id"] == "q1" and query["reference"] == "C" and query["split"] == "train"
    assert query["payload"]["stem"] == "Where is the oven?"
    assert query["payload"]["concept"] == "kitchen"
    assert query["payload"]["choices"][2] == {"label": "C", "text": "c"}


def test_gsm8k_reference_is_normalised_and_ids_made_up(project, tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [GSM_ROW, dict(GSM_ROW, question="Other?")])
    result = import_file(project, path, split="test")
    assert (result.format, result.added) == ("gsm8k", 2)
    got = queries(project)
    assert [q["reference"] for q in got] == ["1250.5", "1250.5"]
    assert [q["source_id"] for q in got] == ["train-1", "train-2"]
    assert {q["split"] for q in got} == {"test"}
    assert got[0]["payload"] == {"question": "How much?"}


def test_gzip_file(project, tmp_path):
    path = tmp_path / "train.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(GSM_ROW) + "\n").encode()))
    assert import_file(project, path).added == 1


# ---- generic formats ----------------------------------------------------------------------
def test_generic_jsonl_with_mapping_and_source_id(project, tmp_path):
    rows = [
        {"key": "k1", "problem": "2+2?", "solution": "4"},
        {"key": "k2", "problem": "3+3?", "solution": 6},
    ]
    path = write_jsonl(tmp_path / "mine.jsonl", rows)
    mapping = parse_mapping(["question=problem", "reference=solution"], "math")
    result = import_file(project, path, "jsonl", mapping=mapping, source_id_field="key")
    assert (result.format, result.added) == ("jsonl", 2)
    assert [(q["source_id"], q["reference"]) for q in queries(project)] == [
        ("k1", "4"),
        ("k2", "6"),
    ]


def test_auto_falls_back_to_generic_jsonl(project, tmp_path):
    path = write_jsonl(
        tmp_path / "plain.jsonl", [{"question": "1+1?", "reference": "2", "split": "test"}]
    )
    result = import_file(project, path)
    assert result.format == "jsonl"
    assert queries(project)[0]["split"] == "test"  # the record's own split field


def test_generic_csv_choice_with_letter_columns(choice_project, tmp_path):
    path = tmp_path / "quiz.csv"
    path.write_text(
        'id,question,A,B,C,answer\nx1,"Where, exactly?",here,there,nowhere,b\nx2,Why?,yes,no,maybe,maybe\n',
        "utf-8",
    )
    result = import_file(choice_project, path)
    assert (result.format, result.added) == ("csv", 2)
    first, second = queries(choice_project)
    assert first["payload"]["stem"] == "Where, exactly?"
    assert [c["text"] for c in first["payload"]["choices"]] == ["here", "there", "nowhere"]
    assert (first["reference"], second["reference"]) == ("B", "C")  # label or option text
    assert first["source_id"] == "x1"


def test_generic_csv_code_with_mapping(code_project, tmp_path):
    path = tmp_path / "tasks.csv"
    path.write_text(
        'desc,asserts,sol\n"Double it.","assert dbl(2) == 4\nassert dbl(0) == 0","def dbl(x):\n    return 2 * x"\n',
        "utf-8",
    )
    mapping = parse_mapping(["text=desc", "tests=asserts", "reference=sol"], "code")
    import_file(code_project, path, "csv", mapping=mapping)
    [query] = queries(code_project)
    assert query["payload"]["tests"] == ["assert dbl(2) == 4", "assert dbl(0) == 0"]
    assert query["payload"]["entry_point"] == "dbl"
    assert query["source_id"] == "tasks-1"


def test_bad_mapping_is_a_usage_error():
    with pytest.raises(UsageError, match="not a field of math"):
        parse_mapping(["answer_text=x"], "math")
    with pytest.raises(UsageError, match="FIELD=COLUMN"):
        parse_mapping(["question"], "math")


# ---- idempotence and splits ---------------------------------------------------------------
def test_second_import_adds_nothing(project, tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [GSM_ROW, dict(GSM_ROW, question="B?")])
    assert import_file(project, path).added == 2
    again = import_file(project, path)
    assert (again.read, again.added, again.present) == (2, 0, 2)
    assert project.scalar("SELECT COUNT(*) FROM queries") == 2
    assert import_file(project, path, split="test").added == 2  # another split is new content


def test_split_override_beats_record_and_mbpp_default(code_project, tmp_path):
    rows = [dict(MBPP_ROW, task_id=20), dict(MBPP_ROW, task_id=21, split="train", text="Other.")]
    path = write_jsonl(tmp_path / "m.jsonl", rows)
    parsed = parse_file(path, "code")
    assert [q.split for q in parsed.queries] == ["test", "train"]
    assert {q.split for q in parse_file(path, "code", split="train").queries} == {"train"}


# ---- validation: FILE:LINE: reason, nothing imported ---------------------------------------
def _refused(project, path: Path, line: int | None, reason: str, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        import_file(project, path, **kwargs)
    error = info.value
    assert error.line == line
    assert reason in error.reason
    where = f"{path}:{line}" if line is not None else str(path)
    assert str(error).startswith(f"{where}: ")
    assert project.scalar("SELECT COUNT(*) FROM queries") == 0
    return error


def test_invalid_json_line(project, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(GSM_ROW) + "\n\n" + '{"question": "x", \n', "utf-8")
    _refused(project, path, 3, "invalid JSON")


def test_missing_field_and_wrong_type(project, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [GSM_ROW, {"question": "x"}])
    _refused(project, path, 2, "missing field 'answer'", fmt="gsm8k")
    path = write_jsonl(
        tmp_path / "b.jsonl", [GSM_ROW, GSM_ROW, {"question": ["x"], "answer": "#### 1"}]
    )
    _refused(project, path, 3, "field 'question' must be text", fmt="gsm8k")
    path = write_jsonl(tmp_path / "c.jsonl", [GSM_ROW, [1, 2]])
    _refused(project, path, 2, "expected a JSON object")
    path = write_jsonl(tmp_path / "d.jsonl", [GSM_ROW, {"question": "x", "answer": "no marker"}])
    _refused(project, path, 2, "'#### <number>'", fmt="gsm8k")


def test_bad_encoding_names_the_line(project, tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        (json.dumps(GSM_ROW) + "\n").encode() + '{"question": "café"}\n'.encode("latin-1")
    )
    _refused(project, path, 2, "not valid UTF-8")


def test_empty_file(project, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n", "utf-8")
    _refused(project, path, 1, "empty file")


def test_unknown_format_and_split_are_usage_errors(project, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [GSM_ROW])
    with pytest.raises(UsageError, match="unknown format"):
        import_file(project, path, fmt="parquet")
    with pytest.raises(UsageError, match="unknown split"):
        import_file(project, path, split="holdout")


def test_format_of_another_task_is_refused(project, tmp_path):
    _refused(project, write_jsonl(tmp_path / "dev.jsonl", [CSQA_ROW]), None, "for choice projects")


def test_bad_answer_key_and_json_array_line(choice_project, tmp_path):
    bad = json.loads(json.dumps(CSQA_ROW))
    bad["answerKey"] = "F"
    _refused(
        choice_project, write_jsonl(tmp_path / "a.jsonl", [CSQA_ROW, bad]), 2, "'F', not one of"
    )
    path = tmp_path / "arr.json"
    path.write_text("[\n" + json.dumps(CSQA_ROW) + ",\n" + json.dumps(bad) + "\n]\n", "utf-8")
    _refused(choice_project, path, 3, "not one of", fmt="csqa")
    path.write_text("[\n" + json.dumps(CSQA_ROW) + ",\n{oops}\n]\n", "utf-8")
    _refused(choice_project, path, 3, "invalid JSON")


def test_csv_row_with_wrong_column_count(project, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("question,reference\n1+1?,2\n2+2?,4,extra\n", "utf-8")
    _refused(project, path, 3, "expected 2 columns")
    path.write_text("question,reference\n1+1?,two\n", "utf-8")
    _refused(project, path, 2, "not a number")


def test_missing_file(project, tmp_path):
    _refused(project, tmp_path / "nope.jsonl", None, "no such file")


# ---- the real benchmark files in ../shared/data ---------------------------------------------
REAL_FILES = [
    ("code", "mbpp/mbpp.jsonl", "mbpp", 974),
    ("code", "mbpp/sanitized-mbpp.json", "mbpp", 427),
    ("choice", "commonsenseqa/dev_rand_split.jsonl", "csqa", 1221),
    ("choice", "commonsenseqa/train_rand_split.jsonl", "csqa", 9741),
    ("math", "gsm8k/train.jsonl", "gsm8k", 7473),
    ("math", "gsm8k/test.jsonl", "gsm8k", 1319),
]


@pytest.mark.parametrize(
    ("task", "name", "fmt", "count"), REAL_FILES, ids=[f[1] for f in REAL_FILES]
)
def test_real_files_give_their_record_counts(shared_data, tmp_path, task, name, fmt, count):
    with make_project(tmp_path / "p", task) as project:
        started = time.perf_counter()
        first = import_file(project, shared_data / name)
        seconds = time.perf_counter() - started
        assert (first.format, first.read, first.added) == (fmt, count, count)
        print(f"importing {name} took {seconds:.1f} s")  # a figure, not a test: busy machines
        second = import_file(project, shared_data / name)
        assert (second.added, second.present) == (0, count)
        assert project.scalar("SELECT COUNT(*) FROM queries") == count
        assert project.scalar("SELECT COUNT(*) FROM queries WHERE reference IS NULL") == 0


def test_real_mbpp_splits_follow_task_ids(shared_data, code_project):
    import_file(code_project, shared_data / "mbpp" / "mbpp.jsonl")
    rows = code_project.rows("SELECT split, COUNT(*) AS n FROM queries GROUP BY split")
    counts = {row["split"]: row["n"] for row in rows}
    assert counts == {"fewshot": 10, "test": 500, "validation": 90, "train": 374}
    missing = code_project.scalar(
        "SELECT COUNT(*) FROM queries WHERE json_extract(payload, '$.entry_point') IS NULL"
    )
    assert missing == 0


def test_real_file_with_one_malformed_line_imports_nothing(shared_data, project, tmp_path):
    lines = (shared_data / "gsm8k" / "test.jsonl").read_text("utf-8").splitlines()
    lines[499] = lines[499][:-5]  # cut the closing of record 500
    broken = tmp_path / "test.jsonl"
    broken.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(DataError) as info:
        import_file(project, broken)
    assert str(info.value).startswith(f"{broken}:500: invalid JSON")
    assert project.scalar("SELECT COUNT(*) FROM queries") == 0
    shutil.copy(shared_data / "gsm8k" / "test.jsonl", broken)
    assert import_file(project, broken).added == 1319
