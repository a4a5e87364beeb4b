"""Teacher-guided compression against the fake OpenAI server: prompts, rows, cache, resume,
failures, manual review surviving reruns, and the fixed-length and compressor methods."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import pytest
from fake_openai import FakeOpenAIServer, add_teacher, seed_queries

from twt_backend.config import RefineConfig, SelectionConfig
from twt_backend.errors import UsageError
from twt_backend.generation import LabelOptions, label
from twt_backend.hard.refine import refine
from twt_backend.hard.refine_prompts import COMPRESS_SYSTEM, REWRITE_SYSTEM, parse_rewrite
from twt_backend.selection.run import run_selection
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project, utcnow

FAST = {"backoff_initial_s": 0.02, "backoff_max_s": 0.1, "flush_s": 0.05, "progress_s": 0.05}
TEACHERS = ("gpt", "mis")


def responder(messages: list[dict[str, Any]], model: str) -> str:
    system = str(messages[0]["content"])
    user = str(messages[-1]["content"])
    if system == REWRITE_SYSTEM:
        n = re.search(r"\(item (\d+)\)", user).group(1)  # type: ignore[union-attr]
        return f"Sure, here it is:\n<reasoning>{model} short {n}</reasoning>\nAnswer: x"
    if system == COMPRESS_SYSTEM:
        return f"<reasoning>{model} compressed</reasoning>"
    n = re.search(r"\(item (\d+)\)", user).group(1)  # type: ignore[union-attr]
    steps = " ".join(f"step{k}" for k in range(12))
    return f"Reasoning: {model} {steps} for item {n}.\nAnswer: {2 * int(n)}\nscore: 0.97"


def _add_student_outputs(project: Project, stage: int = 1, tag: str = "") -> None:
    with project.transaction() as conn:
        for (qid,) in conn.execute("SELECT id FROM queries").fetchall():
            conn.execute(
                "INSERT OR REPLACE INTO student_outputs(query_id, stage, output, tokens, "
                "created_at) VALUES (?, ?, ?, 3, ?)",
                (qid, stage, f"student says {qid}{tag}\nAnswer: {qid}", utcnow()),
            )


@pytest.fixture
def server():
    with FakeOpenAIServer(responder=responder) as srv:
        yield srv


@pytest.fixture
def labelled(project: Project, server: FakeOpenAIServer) -> Project:
    """Four queries labelled by two teachers, all selected, stage-1 student answers."""
    seed_queries(project, 4)
    for name in TEACHERS:
        add_teacher(project, name, base_url=server.base_url, max_retries=1, price_out=2.0)
    label(project.root, LabelOptions(**FAST))
    run_selection(project, SelectionConfig(strategy="quality"))
    _add_student_outputs(project)
    server.reset_counters()
    return project


def _rows(project: Project, round_: int = 1) -> list[dict[str, Any]]:
    return project.rows(
        "SELECT r.*, g.purpose, g.cost_usd, t.name AS teacher FROM refinements r"
        " LEFT JOIN generations g ON g.id = r.refine_generation_id"
        " LEFT JOIN teachers t ON t.id = g.teacher_id WHERE r.round = ? ORDER BY r.id",
        (round_,),
    )


def test_teacher_rewrite_sends_original_and_student_answer(labelled: Project, server) -> None:
    seen: list[list[dict[str, Any]]] = []
    server.responder = lambda messages, model: seen.append(messages) or responder(messages, model)
    result = refine(labelled.root, RefineConfig(), 1, FAST)
    samples = {s["generation_id"]: s for s in effective_samples(labelled)}
    assert len(samples) == 8 and len(seen) == 8 and server.stats()["requests"] == 8
    rows = _rows(labelled)
    assert len(rows) == 8 and result.counts == {"ok": 8} and result.sent == 8
    for row in rows:
        sample = samples[row["generation_id"]]
        assert row["teacher"] == sample["teacher"]  # each sample's own teacher
        assert row["purpose"] == "refine" and row["cost_usd"] > 0
        item = re.search(r"item (\d+)", sample["rationale"]).group(1)  # type: ignore[union-attr]
        assert row["refined_text"] == f"{sample['teacher']} short {item}"
        assert row["student_output"].startswith(f"student says {sample['query_id']}")
        assert row["tokens_original"] == len(sample["rationale"].split()) > row["tokens_refined"]
        prompt = next(m for m in seen if f"(item {item})" in m[-1]["content"] and
                      sample["rationale"] in m[-1]["content"])  # fmt: skip
        assert row["student_output"] in prompt[-1]["content"]
    assert result.counter == "words"
    assert len(effective_samples(labelled)) == 8  # refine requests are not samples


def test_rerun_sends_nothing_and_keeps_rows(labelled: Project, server) -> None:
    refine(labelled.root, RefineConfig(), 1, FAST)
    before = _rows(labelled)
    result = refine(labelled.root, RefineConfig(), 1, FAST)
    assert server.stats()["requests"] == 8 and result.sent == 0
    assert _rows(labelled) == before  # not even updated_at changed


def test_failed_requests_are_stored_and_retried(labelled: Project, server) -> None:
    server.faults = lambda key, attempt: "500"
    result = refine(labelled.root, RefineConfig(), 1, FAST)
    assert result.counts == {"failed": 8}
    failed = labelled.rows("SELECT * FROM generations WHERE purpose='refine'")
    assert len(failed) == 8 and all(g["status"] == "failed" and "500" in g["error"] for g in failed)
    server.faults = {}
    server.reset_counters()
    result = refine(labelled.root, RefineConfig(), 1, FAST)
    assert result.counts == {"ok": 8} and server.stats()["requests"] == 8
    assert labelled.scalar("SELECT COUNT(*) FROM generations WHERE purpose='refine'") == 8


def test_budget_stop_leaves_pending_rows_and_a_rerun_resumes(labelled: Project, server) -> None:
    with labelled.transaction() as conn:
        conn.execute("UPDATE generations SET tokens_out = 1000000 WHERE purpose = 'label'")
    result = refine(labelled.root, RefineConfig(), 1, {**FAST, "budget_usd": 5.0})
    assert result.stopped == "budget" and 0 < result.counts.get("pending", 0) < 8
    first = server.stats()["requests"]
    result = refine(labelled.root, RefineConfig(), 1, FAST)
    assert result.counts == {"ok": 8}
    assert server.stats()["requests"] == 8 and server.duplicates() == {} and first < 8


def test_reviewed_rows_survive_and_redo_asks_again(labelled: Project, server) -> None:
    refine(labelled.root, RefineConfig(), 1, FAST)
    ids = [r["id"] for r in _rows(labelled)]
    with labelled.transaction() as conn:
        conn.execute("UPDATE refinements SET edited_text='my edit' WHERE id=?", (ids[0],))
        conn.execute("UPDATE refinements SET status='accepted' WHERE id=?", (ids[1],))
        conn.execute("UPDATE refinements SET status='rejected' WHERE id=?", (ids[2],))
        conn.execute("UPDATE refinements SET status='pending' WHERE id=?", (ids[3],))  # redo
    kept = {r["id"]: r for r in _rows(labelled)[:3]}
    _add_student_outputs(labelled, tag=" again")  # every student answer changed
    server.reset_counters()
    result = refine(labelled.root, RefineConfig(), 1, FAST)
    assert server.stats()["requests"] == 5 and result.protected == 3
    rows = {r["id"]: r for r in _rows(labelled)}
    assert all(rows[i] == kept[i] for i in kept)
    assert all(" again" in rows[i]["student_output"] for i in ids[3:])
    assert all(rows[i]["status"] == "ok" for i in ids[3:])
    # a redo of an unchanged target asks again under a new key
    old = rows[ids[4]]["refine_generation_id"]
    with labelled.transaction() as conn:
        conn.execute("UPDATE refinements SET status='pending' WHERE id=?", (ids[4],))
    server.reset_counters()
    refine(labelled.root, RefineConfig(), 1, FAST)
    row = next(r for r in _rows(labelled) if r["id"] == ids[4])
    assert server.stats()["requests"] == 1 and row["status"] == "ok"
    assert row["refine_generation_id"] != old


def test_unparseable_answer_fails_the_row_without_resending(labelled: Project, server) -> None:
    server.responder = lambda messages, model: (
        "" if "(item 0)" in messages[-1]["content"] else responder(messages, model)
    )
    result = refine(labelled.root, RefineConfig(), 1, FAST)
    assert result.counts == {"ok": 6, "failed": 2}
    assert (
        labelled.scalar(
            "SELECT COUNT(*) FROM generations WHERE purpose='refine' AND parse_status='empty'"
        )
        == 2
    )
    server.reset_counters()
    refine(labelled.root, RefineConfig(), 1, FAST)
    assert server.stats()["requests"] == 0


def test_fixed_length_truncates_without_requests(labelled: Project, server) -> None:
    result = refine(labelled.root, RefineConfig(method="fixed-length", fixed_length_tokens=5))
    assert server.stats()["requests"] == 0 and result.counts == {"ok": 8}
    for row in _rows(labelled):
        assert row["method"] == "fixed-length" and row["refine_generation_id"] is None
        assert row["tokens_refined"] == 5 and len(row["refined_text"].split()) == 5
    samples = effective_samples(labelled)
    assert {r["refined_text"] for r in _rows(labelled)} == {
        " ".join(s["rationale"].split()[:5]) for s in samples
    }


def test_compressor_does_not_show_the_student(labelled: Project, server) -> None:
    seen: list[str] = []
    server.responder = lambda m, model: seen.append(m[-1]["content"]) or responder(m, model)
    with labelled.transaction() as conn:
        conn.execute("DELETE FROM student_outputs")  # the compressor needs none
    result = refine(labelled.root, RefineConfig(method="compressor"), 1, FAST)
    assert result.counts == {"ok": 8} and len(seen) == 8
    assert not any("student" in text.lower() for text in seen)
    rows = _rows(labelled)
    assert {r["purpose"] for r in rows} == {"compress"}
    assert {r["refined_text"] for r in rows} == {"gpt compressed", "mis compressed"}


def test_one_teacher_for_all_and_replay_refused(labelled: Project, server) -> None:
    refine(labelled.root, RefineConfig(teacher="mis"), 1, FAST)
    assert {r["teacher"] for r in _rows(labelled)} == {"mis"}
    add_teacher(labelled, "old", provider="replay", model="file.jsonl")
    with pytest.raises(UsageError, match="replays stored outputs"):
        refine(labelled.root, RefineConfig(teacher="old"), 1, FAST)


def test_teacher_method_without_student_answers_skips(labelled: Project, server) -> None:
    result = refine(labelled.root, RefineConfig(), 2, FAST)  # no stage-2 answers, no round 1
    assert result.counts == {} and server.stats()["requests"] == 0


def test_round_two_compresses_the_round_one_text(labelled: Project, server) -> None:
    refine(labelled.root, RefineConfig(), 1, FAST)
    first = _rows(labelled)[0]
    with labelled.transaction() as conn:
        conn.execute("UPDATE refinements SET edited_text='edited round one' WHERE id=?",
                     (first["id"],))  # fmt: skip
    _add_student_outputs(labelled, stage=2)
    seen: list[str] = []
    server.responder = lambda m, model: seen.append(m[-1]["content"]) or responder(m, model)
    result = refine(labelled.root, RefineConfig(), 2, FAST)
    assert result.counts == {"ok": 8}
    assert any("Reference reasoning:\nedited round one\n" in text for text in seen)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<reasoning>a b</reasoning>\nAnswer: 3", "a b"),
        ("Here is the rewritten reasoning:\nAdd 1 and 2.\nAnswer: 3\nscore: 0.9", "Add 1 and 2."),
        ("Reasoning: short.\nFinal answer: 3", "short."),
        ("<reasoning>\nunclosed\nscore: 0.5", "unclosed"),
        ("", None),
        ("Answer: 3", None),
    ],
)
def test_parse_rewrite(text: str, expected: str | None) -> None:
    parsed = parse_rewrite(text)
    assert parsed.rationale == expected
    assert parsed.status == ("ok" if expected else "empty")


def _cli(*argv: str) -> int:
    from twt_backend.cli import refine_cmds

    parser = argparse.ArgumentParser()
    refine_cmds.register(parser.add_subparsers())
    args = parser.parse_args(["refine", *argv])
    return int(args.func(args) or 0)


def test_cli_refine_fixed_length_as_a_job(labelled: Project, capsys) -> None:
    argv = ("--method", "fixed-length", "--fixed-length-tokens", "3", "--json")
    assert _cli(str(labelled.root), *argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["counts"] == {"ok": 8} and summary["method"] == "fixed-length"
    job = labelled.rows("SELECT kind, status FROM jobs")[-1]
    assert job == {"kind": "refine", "status": "finished"}
    assert {r["tokens_refined"] for r in _rows(labelled)} == {3}


def test_cli_refuses_the_teacher_method_before_stage_one(labelled: Project, server) -> None:
    with labelled.transaction() as conn:
        conn.execute("DELETE FROM student_outputs")
    with pytest.raises(UsageError, match="stage 1 is not trained"):
        _cli(str(labelled.root))
    assert labelled.scalar("SELECT COUNT(*) FROM jobs") == 0
