"""Teacher defaults are the paper's (temperature 0, top-p 0.95, 2048 tokens), top-p reaches
the server, and a reply cut at the token limit is stored as `truncated`, over real HTTP."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from fake_openai import FakeOpenAIServer, add_teacher, seed_queries

from twt_backend.config import SelectionConfig, TeacherConfig
from twt_backend.generation import LabelOptions, label, request_hash
from twt_backend.selection.decide import Candidate, first_stage
from twt_backend.store import Project

FAST = {"backoff_initial_s": 0.02, "backoff_max_s": 0.2, "flush_s": 0.05, "progress_s": 0.05}


def test_teacher_defaults_are_the_papers() -> None:
    config = TeacherConfig(name="t", model="m")
    assert (config.temperature, config.top_p, config.max_tokens) == (0.0, 0.95, 2048)


def test_top_p_and_defaults_are_sent(project: Project) -> None:
    seed_queries(project, 3)
    with FakeOpenAIServer() as server:
        add_teacher(project, "gpt", base_url=server.base_url)
        add_teacher(project, "mis", provider="mistral", base_url=server.base_url, top_p=0.5)
        label(project.root, LabelOptions(**FAST))
        sent = {(s["temperature"], s["top_p"], s["max_tokens"]) for s in server.sampling}
    assert sent == {(0.0, 0.95, 2048), (0.0, 0.5, 2048)}


def test_a_reply_cut_at_max_tokens_is_truncated(project: Project) -> None:
    seed_queries(project, 4)

    def long_reply(messages: list, model: str) -> str:
        return "Reasoning: " + "step " * 40 + "\nAnswer: 4\nscore: 0.9"

    with FakeOpenAIServer(responder=long_reply, honour_max_tokens=True) as server:
        add_teacher(project, "short", base_url=server.base_url, max_tokens=10)
        add_teacher(project, "long", base_url=server.base_url, max_tokens=100)
        label(project.root, LabelOptions(**FAST))
    rows = project.rows(
        "SELECT t.name, g.status, g.parse_status, g.answer FROM generations g"
        " JOIN teachers t ON t.id = g.teacher_id"
    )
    by_teacher = {(r["name"], r["status"], r["parse_status"]) for r in rows}
    assert by_teacher == {("short", "ok", "truncated"), ("long", "ok", "ok")}
    assert len(rows) == 8


def test_a_truncated_reply_is_never_selected() -> None:
    truncated = Candidate(
        id=1, query_id=1, teacher="t", rationale="r", answer="4", confidence=None,
        parse_status="truncated", logprob_mean=None,
    )  # fmt: skip
    for strategy in ("dcrs", "none", "hard"):
        verdict = first_stage(truncated, SelectionConfig(strategy=strategy))
        assert not verdict.selected and verdict.reason == "parse_failed:truncated"


def test_top_p_enters_the_cache_key_only_away_from_the_default() -> None:
    messages = [{"role": "user", "content": "hi"}]
    paper = TeacherConfig(name="a", model="m", temperature=0.7, max_tokens=1024)
    other = dataclasses.replace(paper, top_p=0.5)
    assert request_hash(paper, messages) != request_hash(other, messages)
    # the key of an answer stored before top-p was sent (settings without top-p)
    settings = {"provider": "openai", "model": "m", "temperature": 0.7, "max_tokens": 1024,
                "logprobs": False}  # fmt: skip
    text = json.dumps([settings, messages], sort_keys=True, ensure_ascii=False)
    assert request_hash(paper, messages) == hashlib.sha256(text.encode("utf-8")).hexdigest()
