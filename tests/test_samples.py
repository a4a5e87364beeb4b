"""The bundled sample data (twt_backend/resources/samples) and the demo project built from it."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from twt_backend import demo
from twt_backend.importers import parse_file
from twt_backend.store import Project
from twt_backend.tasks import get_task

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "twt_backend" / "resources" / "samples"
TASKS = ("code", "choice", "math")


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (SAMPLES / name).read_text("utf-8").splitlines()]


@pytest.mark.parametrize("task", TASKS)
def test_sample_files_import_with_references_and_splits(task):
    parsed = parse_file(SAMPLES / f"{task}.jsonl", task)
    assert parsed.format == {"code": "mbpp", "choice": "csqa", "math": "gsm8k"}[task]
    splits = [q.split for q in parsed.queries]
    assert (splits.count("train"), splits.count("test")) == (24, 6)
    assert all(q.reference for q in parsed.queries)
    assert len({q.content_hash for q in parsed.queries}) == 30
    assert len({q.source_id for q in parsed.queries}) == 30


def test_sample_code_passes_its_own_tests():
    for item in load("code.jsonl"):
        assert len(item["test_list"]) == 3
        program = "\n".join([item["code"], item["test_setup_code"], *item["test_list"]])
        result = subprocess.run(
            [sys.executable, "-I", "-c", program], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, f"{item['task_id']}: {result.stderr}"


def test_sample_code_fails_when_the_function_is_wrong():
    """The asserts have teeth: a function returning None fails at least one of them."""
    for item in load("code.jsonl"):
        name = re.search(r"def (\w+)\(", item["code"]).group(1)
        stub = f"def {name}(*args, **kwargs):\n    return None"
        program = "\n".join([stub, *item["test_list"]])
        result = subprocess.run(
            [sys.executable, "-I", "-c", program], capture_output=True, timeout=30
        )
        assert result.returncode != 0, item["task_id"]


def _exact(expression: str) -> Fraction:
    node = ast.parse(expression, mode="eval").body

    def value(n: ast.AST) -> Fraction:
        if isinstance(n, ast.Constant):
            return Fraction(str(n.value))
        if isinstance(n, ast.BinOp):
            left, right = value(n.left), value(n.right)
            ops = {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}
            return ops[type(n.op)] if type(n.op) in ops else left / right
        raise ValueError(expression)

    return value(node)


def test_sample_math_calculations_are_right():
    for item in load("math.jsonl"):
        notes = re.findall(r"<<([^=]+)=([^>]+)>>", item["answer"])
        assert notes, item["id"]
        for expression, result in notes:
            assert _exact(expression) == Fraction(result), (item["id"], expression)
        final = item["answer"].rsplit("#### ", 1)[1]
        assert Fraction(final) == Fraction(notes[-1][1])


def test_sample_choices_are_well_formed():
    keys = set()
    for item in load("choice.jsonl"):
        choices = item["question"]["choices"]
        assert [c["label"] for c in choices] == list("ABCDE")
        assert len({c["text"] for c in choices}) == 5
        keys.add(item["answerKey"])
    assert len(keys) >= 4  # answers are spread over the letters


@pytest.mark.parametrize("task", TASKS)
def test_replay_outputs_parse_to_the_reference(task):
    task_type = get_task(task)
    parsed = parse_file(SAMPLES / f"{task}.jsonl", task)
    by_id = {q.source_id: q for q in parsed.queries}
    outputs = load(f"replay_{task}.jsonl")
    per_item: dict[str, set[str]] = {}
    confidences = []
    for row in outputs:
        query = by_id[row["id"]]
        assert query.split == "train"
        per_item.setdefault(row["id"], set()).add(row["teacher"])
        result = task_type.parse_teacher_output(row["output"], query.payload)
        assert result.status == "ok", (row["id"], row["teacher"], result.status)
        assert re.search(r"(?m)^score: 0\.\d\d$", row["output"].splitlines()[-1])
        confidences.append(result.confidence)
        if task == "code":
            assert result.answer.strip() == query.reference.strip()
        else:
            assert task_type.is_correct(result.answer, query.reference, query.payload), row
    assert len(per_item) == 24
    assert all(2 <= len(teachers) <= 3 for teachers in per_item.values())
    assert any(c < 0.95 for c in confidences) and any(c >= 0.95 for c in confidences)
    texts = [row["output"] for row in outputs if row["id"] == outputs[0]["id"]]
    assert len(set(texts)) == len(texts) and len({len(t) for t in texts}) == len(texts)


def test_sample_files_are_what_the_generator_writes():
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        import make_samples
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    for task, records, outputs in (
        ("math", make_samples.math_records(), make_samples.math_outputs),
        ("choice", make_samples.choice_records(), make_samples.choice_outputs),
        ("code", make_samples.code_records(), make_samples.code_outputs),
    ):
        assert load(f"{task}.jsonl") == records
        assert load(f"replay_{task}.jsonl") == make_samples.replay_records(task, records, outputs)


# ---- the choice tour's data set: word categories-------------------------------------------------
def test_demo_data_is_what_its_generator_writes():
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        import make_demo_data
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    for name, rows in make_demo_data.files().items():
        assert load(name) == rows, name
    assert make_demo_data.files() == make_demo_data.files()  # deterministic


def test_demo_data_queries_have_exactly_one_right_option():
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        from make_demo_data import CATEGORIES, category_of
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    words = [w for _, _, ws in CATEGORIES.values() for w in ws]
    assert len(words) == len(set(words))  # no word in two categories
    parsed = parse_file(SAMPLES / "categories.jsonl", "choice")
    assert parsed.format == "csqa"
    splits = [q.split for q in parsed.queries]
    assert {s: splits.count(s) for s in set(splits)} == {"train": 240, "validation": 16, "test": 64}
    assert len({q.content_hash for q in parsed.queries}) == len(parsed.queries)
    keys = set()
    for query in parsed.queries:
        concept = query.payload["concept"]
        members = [c for c in query.payload["choices"] if category_of(c["text"]) == concept]
        assert [m["label"] for m in members] == [query.reference]
        keys.add(query.reference)
    assert keys == set("ABCDE")


def check_personas(confidences: list[float], lengths: dict[str, list[int]]) -> None:
    """Every persona answered each of the 240 train queries; about one confidence in four
    is below the paper's threshold; the personas' rationales differ in length."""
    assert len(confidences) == 3 * 240
    below = sum(c < 0.95 for c in confidences) / len(confidences)
    assert 0.15 < below < 0.35  # some fall below the paper's threshold, most pass
    mean = {t: sum(v) / len(v) for t, v in lengths.items()}
    assert mean["gpt-4o-mini"] < mean["gpt-4"] < mean["mistral-large"]


def test_demo_replay_outputs_parse_to_the_answer_and_vary():
    task_type = get_task("choice")
    by_id = {q.source_id: q for q in parse_file(SAMPLES / "categories.jsonl", "choice").queries}
    confidences, lengths = [], {}
    for row in load("replay_categories.jsonl"):
        query = by_id[row["id"]]
        assert query.split == "train"
        result = task_type.parse_teacher_output(row["output"], query.payload)
        assert result.status == "ok" and result.answer == query.reference, row
        confidences.append(result.confidence)
        lengths.setdefault(row["teacher"], []).append(len(result.rationale))
    check_personas(confidences, lengths)
    compressed = {r["id"]: r["output"] for r in load("compressed_categories.jsonl")}
    assert set(compressed) == {q for q, v in by_id.items() if v.split == "train"}
    for source_id, text in compressed.items():
        query = by_id[source_id]
        right = next(c["text"] for c in query.payload["choices"] if c["label"] == query.reference)
        assert text == f"<reasoning>{right} is {text.split(' is ', 1)[1]}"
        assert query.payload["concept"] in text


# ---- the demo's data set: two-step arithmetic -------------------------------------------------
def _arithmetic_script():
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        import make_arithmetic_data
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    return make_arithmetic_data


def test_arithmetic_data_is_what_its_generator_writes():
    script = _arithmetic_script()
    for name, rows in script.files().items():
        assert load(name) == rows, name
    assert script.files() == script.files()  # deterministic


def test_arithmetic_queries_import_with_their_answer():
    parsed = parse_file(SAMPLES / "arithmetic.jsonl", "math")
    assert parsed.format == "gsm8k"
    splits = [q.split for q in parsed.queries]
    assert {s: splits.count(s) for s in set(splits)} == {"train": 240, "validation": 16, "test": 64}
    assert len({q.content_hash for q in parsed.queries}) == len(parsed.queries)
    for query in parsed.queries:  # the answer is what the question's two steps give
        a, b, c = (int(n) for n in re.findall(r"\b\d+\b", query.payload["question"])[:3])
        assert query.reference == str(a + b - c) and a + b - c >= 1
    test_refs = [q.reference for q in parsed.queries if q.split == "test"]
    assert max(test_refs.count(r) for r in set(test_refs)) / len(test_refs) < 0.25  # no giveaway


def test_arithmetic_replay_outputs_parse_and_only_doubtful_ones_slip():
    task_type = get_task("math")
    by_id = {q.source_id: q for q in parse_file(SAMPLES / "arithmetic.jsonl", "math").queries}
    confidences, lengths, slips = [], {}, 0
    for row in load("replay_arithmetic.jsonl"):
        query = by_id[row["id"]]
        assert query.split == "train"
        result = task_type.parse_teacher_output(row["output"], query.payload)
        assert result.status == "ok", row
        if result.answer != query.reference:  # a slip: only where the teacher doubts
            slips += 1
            assert result.confidence < 0.95, row
        confidences.append(result.confidence)
        lengths.setdefault(row["teacher"], []).append(len(result.rationale))
    assert 0 < slips < 0.1 * len(confidences)
    check_personas(confidences, lengths)
    compressed = {r["id"]: r["output"] for r in load("compressed_arithmetic.jsonl")}
    assert set(compressed) == {q for q, v in by_id.items() if v.split == "train"}
    for source_id, text in compressed.items():
        assert text.startswith("<reasoning>") and text.endswith(
            f"= {by_id[source_id].reference}.</reasoning>"
        )


# ---- demo project ----------------------------------------------------------------------------
def test_demo_root_follows_twt_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TWT_DATA_HOME", str(tmp_path / "home"))
    assert demo.demo_root() == tmp_path / "home" / "demo-arithmetic"
    monkeypatch.delenv("TWT_DATA_HOME")
    assert demo.demo_root().name == "demo-arithmetic" and "twt-studio" in str(demo.demo_root())


@pytest.mark.parametrize(
    ("task", "folder", "splits"),
    [
        ("math", "demo-arithmetic", {"train": 240, "validation": 16, "test": 64}),
        ("choice", "demo-categories", {"train": 240, "validation": 16, "test": 64}),
        ("code", "demo-code", {"train": 24, "test": 6}),
    ],
)
def test_ensure_demo_project_is_idempotent(tmp_path, monkeypatch, task, folder, splits):
    monkeypatch.setenv("TWT_DATA_HOME", str(tmp_path / "home"))
    root = demo.ensure_demo_project(task=task)
    assert root == tmp_path / "home" / folder
    assert demo.ensure_demo_project(task=task) == root
    with Project.open(root) as project:
        assert project.task == task
        rows = project.rows("SELECT split, COUNT(*) AS n FROM queries GROUP BY split")
        assert {r["split"]: r["n"] for r in rows} == splits


def test_ensure_demo_project_refuses_a_project_of_another_task(tmp_path):
    demo.ensure_demo_project(tmp_path / "d", "choice")
    with pytest.raises(Exception, match="choice project, not math"):
        demo.ensure_demo_project(tmp_path / "d", "math")


def test_demo_module_stays_light(tmp_path):
    code = (
        "import sys; from twt_backend.demo import ensure_demo_project as e; "
        f"e({str(tmp_path / 'd')!r}); "
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'PySide6') "
        "if m in sys.modules]; print(heavy)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
