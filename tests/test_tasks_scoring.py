"""Answer extraction from student outputs, answer comparison and code test programs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from twt_backend.tasks import get_task
from twt_backend.tasks.code import build_test_program, extract_code, infer_entry_point
from twt_backend.tasks.math import math_reference_from_gsm8k, normalize_number

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHOICE = {
    "stem": "Where do you keep money?",
    "choices": [
        {"label": label, "text": text}
        for label, text in zip(
            "ABCDE", ["river", "pocket", "bank", "piggy bank", "shoe"], strict=True
        )
    ],
    "concept": None,
}
MATH = {"question": "How many?"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18", "18"),
        ("18.0", "18"),
        ("$1,250.50", "1250.5"),
        ("9 apples", "9"),
        ("\\boxed{18}", "18"),
        ("-3.50", "-3.5"),
        ("3/4", "0.75"),
        ("\\frac{1}{8}", "0.125"),
        ("25%", "25"),
        ("1,000,000", "1000000"),
        (".5", "0.5"),
        ("1/0", None),
        ("no number", None),
        (None, None),
    ],
)
def test_normalize_number(text: str | None, expected: str | None) -> None:
    assert normalize_number(text) == expected


@pytest.mark.parametrize(
    ("predicted", "reference", "correct"),
    [
        ("18", "18", True),
        ("18.0", "18", True),
        ("$1,250.50", "1250.5", True),
        ("72.00000001", "72", True),
        ("72.01", "72", False),
        ("1000000.5", "1000000", True),  # relative tolerance 1e-6
        ("1000002", "1000000", False),
        ("0", "0", True),
        ("-5", "5", False),
        (None, "5", False),
        ("5", None, False),
        ("five", "5", False),
    ],
)
def test_math_numeric_comparison(
    predicted: str | None, reference: str | None, correct: bool
) -> None:
    assert get_task("math").is_correct(predicted, reference, MATH) is correct


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("3 * 6 = 18\nAnswer: 18", "18"),
        ("Answer: 18", "18"),
        ("18", "18"),
        ("He has 3*6 = 18 apples in total.", "18"),
        ("The answer is $1,250.50.", "1250.5"),
        ("So \\boxed{42} is it. Check: 40 + 2", "42"),
        ("Natalia sold 48/2 = 24 clips in May.\n#### 72", "72"),
        ("I cannot tell.", None),
        ("", None),
    ],
)
def test_math_extract_from_student_output(output: str, expected: str | None) -> None:
    assert get_task("math").extract_answer(output, MATH) == expected


def test_gsm8k_reference() -> None:
    text = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nSo 48+24 = <<48+24=72>>72.\n#### 72"
    assert math_reference_from_gsm8k(text) == "72"
    assert math_reference_from_gsm8k("... #### 1,000") == "1000"
    assert math_reference_from_gsm8k("#### -0.50") == "-0.5"
    with pytest.raises(ValueError):
        math_reference_from_gsm8k("the answer is 72")
    with pytest.raises(ValueError):
        math_reference_from_gsm8k("#### none")


def test_gsm8k_real_references_all_parse() -> None:
    path = DATA / "gsm8k" / "train.jsonl"
    if not path.exists():
        pytest.skip(f"{path} absent (../shared/data is optional)")
    task = get_task("math")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    references = [math_reference_from_gsm8k(row["answer"]) for row in rows]
    assert len(references) == 7473
    # the worked solution, read as a student output, gives back its reference
    agree = sum(
        task.is_correct(task.extract_answer(row["answer"], {}), ref, {})
        for row, ref in zip(rows, references, strict=True)
    )
    assert agree == len(rows)


@pytest.mark.parametrize(
    ("predicted", "correct"),
    [("C", True), ("c", True), ("(C) bank", True), ("bank", True), ("Answer: C", True)]
    + [("D", False), ("piggy bank", False), ("A bank", True), ("", False), (None, False)],
)
def test_choice_by_letter_or_text(predicted: str | None, correct: bool) -> None:
    assert get_task("choice").is_correct(predicted, "C", CHOICE) is correct


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Answer: C", "C"),
        ("C", "C"),
        ("Money is safest in a bank.\nAnswer: (C) bank", "C"),
        ("The answer is B.", "B"),
        ("piggy bank", "D"),
        ("I would pick the bank, not my pocket.", None),
        ("Hmm.", None),
    ],
)
def test_choice_extract_from_student_output(output: str, expected: str | None) -> None:
    assert get_task("choice").extract_answer(output, CHOICE) == expected


def test_choice_without_labels_falls_back_to_positions() -> None:
    payload = {"stem": "Pick", "choices": [{"text": "red"}, {"text": "blue"}]}
    task = get_task("choice")
    assert task.query_text(payload).splitlines()[1:] == ["A. red", "B. blue"]
    assert task.extract_answer("Answer: blue", payload) == "B"


ADD = "def add(a, b):\n    return a + b"
CODE = {
    "text": "Add two numbers.",
    "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"],
    "test_setup": "",
    "entry_point": None,
}


@pytest.mark.parametrize(
    ("tests", "setup", "expected"),
    [
        (CODE["tests"], "", "add"),
        (["assert set(similar((3, 4), (4, 5))) == set((4,))"], "", "similar"),
        (["assert math.isclose(area(2), 12.56, rel_tol=0.01)"], "", "area"),
        (["assert sum(10, 15) == 6"], "", "sum"),  # MBPP task 126 shadows a builtin
        (["assert max_height(root) == 3"], "root = Node(1)", "max_height"),
        (["assert add(1 == 2"], "", "add"),  # unparsable: first call by regex
        ([], "", None),
    ],
)
def test_infer_entry_point(tests: list[str], setup: str, expected: str | None) -> None:
    assert infer_entry_point(tests, setup) == expected


def test_extract_code_prefers_the_tested_function_over_later_blocks() -> None:
    text = f"```python\n{ADD}\n```\nUsage:\n```python\ndef demo():\n    print(add(1, 2))\n```"
    assert extract_code(text, "add") == ADD
    assert extract_code(text) == "def demo():\n    print(add(1, 2))"  # no name: last defining block


def test_extract_code_ignores_non_python_fences_and_prose() -> None:
    text = f"```text\nadd(1, 2) -> 3\n```\nThe function:\n\n{ADD}\n\nIt adds.\nscore: 0.9"
    assert extract_code(text, "add") == ADD
    assert extract_code("no code here", "add") is None
    assert extract_code("```bash\npip install x\n```", "add") is None


def test_code_extract_from_student_output() -> None:
    assert get_task("code").extract_answer(f"Sum them.\n```python\n{ADD}\n```", CODE) == ADD
    assert get_task("code").extract_answer(f"```python\n{ADD}", CODE) == ADD  # unclosed fence


def _run(program: str, tmp_path: Path) -> int:
    script = tmp_path / "program.py"
    script.write_text(program, encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], capture_output=True, timeout=30).returncode


def test_build_test_program_passes_and_fails(tmp_path: Path) -> None:
    good = build_test_program(ADD, CODE)
    assert good.startswith(ADD) and good.rstrip().endswith("assert add(-1, 1) == 0")
    wrong = build_test_program("def add(a, b):\n    return a - b", CODE)
    assert _run(good, tmp_path) == 0
    assert _run(wrong, tmp_path) != 0


def test_build_test_program_runs_setup_after_the_solution(tmp_path: Path) -> None:
    payload = {
        "tests": ["assert depth(root) == 2", "assert depth(leaf) == 1"],
        "test_setup": "root = Node(1)\r\nroot.left = Node(2)\r\nleaf = Node(3)",
        "entry_point": None,
    }
    solution = (
        "class Node:\n    def __init__(self, v):\n        self.v, self.left = v, None\n\n"
        "def depth(node):\n    return 0 if node is None else 1 + depth(node.left)"
    )
    program = build_test_program(solution, payload)
    assert "\r" not in program
    assert _run(program, tmp_path) == 0


def test_mbpp_reference_solutions_pass(tmp_path: Path) -> None:
    path = DATA / "mbpp" / "mbpp.jsonl"
    if not path.exists():
        pytest.skip(f"{path} absent (../shared/data is optional)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[10:20]]
    for row in rows:
        payload = {"tests": row["test_list"], "test_setup": row["test_setup_code"]}
        teacher = f"Here you go:\n```python\n{row['code']}\n```\nscore: 0.9"
        solution = get_task("code").parse_teacher_output(teacher, payload).answer
        assert solution is not None
        assert _run(build_test_program(solution, payload), tmp_path) == 0, row["task_id"]
        broken = build_test_program("def nothing():\n    pass", payload)
        assert _run(broken, tmp_path) != 0


def test_commonsenseqa_options_by_text_and_letter() -> None:
    path = DATA / "commonsenseqa" / "dev_rand_split.jsonl"
    if not path.exists():
        pytest.skip(f"{path} absent (../shared/data is optional)")
    task = get_task("choice")
    lines = path.read_text(encoding="utf-8").splitlines()[:300]
    for row in map(json.loads, lines):
        question = row["question"]
        payload = {"stem": question["stem"], "choices": question["choices"]}
        texts = [choice["text"] for choice in question["choices"]]
        for choice in question["choices"]:
            label, text = choice["label"], choice["text"]
            by_text = task.parse_teacher_output(f"Answer: {text}\nscore: 0.9", payload).answer
            # two options with the same text cannot be told apart by text
            assert by_text == (label if texts.count(text) == 1 else None), (row["id"], text)
            inline = f"So the answer is: ({label}) {text}.\nscore: 0.9"
            assert task.parse_teacher_output(inline, payload).answer == label
            assert task.is_correct(label.lower(), row["answerKey"], payload) == (
                label == row["answerKey"]
            )
