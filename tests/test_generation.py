"""The labelling engine over real HTTP against the fake server: faults, retries, cache, cost."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from fake_openai import FakeOpenAIServer, add_teacher, seed_queries

from twt_backend.generation import LabelOptions, label, request_hash
from twt_backend.store import Project

FAST = {"backoff_initial_s": 0.02, "backoff_max_s": 0.2, "flush_s": 0.05, "progress_s": 0.05}


def _options(**overrides: Any) -> LabelOptions:
    return LabelOptions(**{**FAST, **overrides})


def _counts(project: Project) -> dict[tuple[str, str], int]:
    rows = project.rows(
        "SELECT t.name, g.status, COUNT(*) AS n FROM generations g"
        " JOIN teachers t ON t.id = g.teacher_id GROUP BY 1, 2"
    )
    return {(r["name"], r["status"]): r["n"] for r in rows}


def test_every_teacher_labels_every_query(project: Project) -> None:
    seed_queries(project, 30)
    snapshots: list[dict[str, Any]] = []
    with FakeOpenAIServer(latency_s=0.01) as server:
        add_teacher(
            project, "gpt", base_url=server.base_url, concurrency=4, price_in=2.0, price_out=8.0
        )
        add_teacher(project, "mis", provider="mistral", base_url=server.base_url, concurrency=3)
        add_teacher(project, "solo", base_url=server.base_url, concurrency=1, logprobs=True)
        summary = label(project.root, _options(), on_progress=snapshots.append)
        assert server.duplicates() == {}
        assert server.stats()["requests"] == 90
    assert _counts(project) == {("gpt", "ok"): 30, ("mis", "ok"): 30, ("solo", "ok"): 30}
    rows = project.rows("SELECT * FROM generations g JOIN teachers t ON t.id = g.teacher_id")
    for row in rows:
        assert row["parse_status"] == "ok" and row["confidence"] == 0.9
        assert row["answer"] and row["rationale"] and row["raw_text"].endswith("score: 0.9")
        assert row["tokens_in"] > 0 and row["tokens_out"] > 0 and row["attempts"] == 1
        expected = (
            (row["tokens_in"] * 2.0 + row["tokens_out"] * 8.0) / 1e6
            if row["name"] == "gpt"
            else 0.0
        )
        assert row["cost_usd"] == pytest.approx(expected)
        assert (row["logprob_mean"] is not None) == (row["name"] == "solo")
    gpt_cost = project.scalar("SELECT SUM(cost_usd) FROM generations WHERE teacher_id = 1")
    assert summary.spent_usd == pytest.approx(gpt_cost)
    assert summary.estimate_usd > 0
    final = snapshots[-1]
    assert final["bars"]["gpt"]["done"] == 30 and final["bars"]["gpt"]["total"] == 30
    assert final["bars"]["gpt"]["cost"] == f"${gpt_cost:.4f}"
    assert set(final["bars"]) == {"gpt", "mis", "solo"}
    assert project.integrity_ok()


def test_rerun_sends_nothing_and_new_queries_only(project: Project) -> None:
    seed_queries(project, 10)
    with FakeOpenAIServer() as server:
        add_teacher(project, "gpt", base_url=server.base_url)
        label(project.root, _options())
        label(project.root, _options())
        assert server.stats()["requests"] == 10
        seed_queries(project, 10, start=10)
        label(project.root, _options())
        assert server.stats()["requests"] == 20
        assert server.duplicates() == {}


@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_faults_are_retried_until_every_query_is_answered(project: Project, provider: str) -> None:
    seed_queries(project, 40)
    kinds = {0: "429", 1: "500", 2: "malformed", 3: "hang", 4: "429"}

    def faults(key: str, attempt: int) -> str | None:  # every kind, some twice in a row
        slot = int(key, 16) % 8
        return kinds.get(slot) if attempt == 1 or (attempt == 2 and slot in (0, 1)) else None

    # a hang lasts until the client gives up, so the timeout can leave room for a busy
    # machine (a slow ok answer must not be re-asked) without slowing the test down
    with FakeOpenAIServer(latency_s=0.005, faults=faults, retry_after_s=0.05) as server:
        add_teacher(project, "t", provider=provider, base_url=server.base_url, concurrency=8,
                    timeout_s=6.0, max_retries=10)  # fmt: skip
        summary = label(project.root, _options())
        sent = server.stats()["faults"]
        assert server.duplicates() == {}
    assert _counts(project) == {("t", "ok"): 40}
    assert set(sent) == {"429", "500", "malformed", "hang"}
    retried = project.scalar("SELECT SUM(attempts) FROM generations")
    assert retried == 40 + sum(sent.values())
    assert summary.stopped is None


def test_retry_after_is_respected(project: Project) -> None:
    seed_queries(project, 4)
    first_attempt_limited = lambda key, attempt: "429" if attempt == 1 else None  # noqa: E731
    with FakeOpenAIServer(faults=first_attempt_limited, retry_after_s=0.6) as server:
        add_teacher(project, "t", base_url=server.base_url, concurrency=4)
        label(project.root, _options(backoff_initial_s=0.01))
        gaps = [times[1] - times[0] for times in server.times.values()]
    assert len(gaps) == 4
    assert min(gaps) >= 0.6  # the exponential backoff alone would wait ~0.01 s
    assert _counts(project) == {("t", "ok"): 4}


def test_failed_after_retry_budget_is_stored_then_retried(project: Project) -> None:
    seed_queries(project, 6)
    broken = {"on": True}
    faults = lambda key, attempt: "500" if broken["on"] or attempt == 3 else None  # noqa: E731
    with FakeOpenAIServer(faults=faults) as server:
        add_teacher(project, "t", base_url=server.base_url, max_retries=1)
        summary = label(project.root, _options())
        assert _counts(project) == {("t", "failed"): 6}
        rows = project.rows("SELECT attempts, error, raw_text FROM generations")
        assert all(r["attempts"] == 2 and r["raw_text"] is None for r in rows)
        assert all("HTTP 500" in r["error"] and "after 2 attempt(s)" in r["error"] for r in rows)
        assert "6 failed" in summary.message
        broken["on"] = False  # attempt 3 fails once more, attempt 4 succeeds
        label(project.root, _options())
        assert server.stats()["requests"] == 6 * 4
    assert _counts(project) == {("t", "ok"): 6}
    rows = project.rows("SELECT attempts, error FROM generations")
    assert all(r["attempts"] == 4 and r["error"] is None for r in rows)


def test_permanent_errors_are_not_retried(project: Project) -> None:
    seed_queries(project, 3)
    with FakeOpenAIServer(faults=lambda key, attempt: "400") as server:
        add_teacher(project, "t", base_url=server.base_url, max_retries=5)
        label(project.root, _options())
        assert server.stats()["requests"] == 3
    assert _counts(project) == {("t", "failed"): 3}


def test_budget_stops_cleanly(project: Project) -> None:
    seed_queries(project, 60)
    with FakeOpenAIServer(latency_s=0.01) as server:
        # ~180 tokens in, 14 out per request at $1000/M in: about $0.18 each
        add_teacher(project, "t", base_url=server.base_url, concurrency=4, price_in=1000.0)
        summary = label(project.root, _options(budget_usd=2.0))
        requests = server.stats()["requests"]
    spent = project.scalar("SELECT SUM(cost_usd) FROM generations")
    assert summary.stopped == "budget"
    assert spent == pytest.approx(summary.spent_usd)
    assert 1.5 <= spent <= 2.0
    assert requests == project.scalar("SELECT COUNT(*) FROM generations") < 60
    assert summary.not_sent == 60 - requests
    assert "budget reached" in summary.message


def test_request_hash_follows_generation_settings_only() -> None:
    from twt_backend.config import TeacherConfig

    messages = [{"role": "user", "content": "hi"}]
    base = TeacherConfig(name="a", model="m", base_url="http://one/v1", concurrency=4)
    same = TeacherConfig(name="b", model="m", base_url="http://two/v1", concurrency=64, rpm=10)
    hotter = TeacherConfig(name="a", model="m", temperature=1.0)
    assert request_hash(base, messages) == request_hash(same, messages)
    assert request_hash(base, messages) != request_hash(hotter, messages)
    assert request_hash(base, messages) != request_hash(base, [{"role": "user", "content": "ho"}])


def test_requests_per_minute_limit_paces_requests(project: Project) -> None:
    seed_queries(project, 12)
    with FakeOpenAIServer() as server:
        # 300 rpm = 5 a second, in a bucket holding one second's worth
        add_teacher(project, "t", base_url=server.base_url, concurrency=12, rpm=300)
        label(project.root, _options())
        arrivals = sorted(t for times in server.times.values() for t in times)
    assert len(arrivals) == 12
    # 5 at once, then 5/s: about 1.4 s. A busy machine only adds time; the upper bound
    # catches a limiter that refills per minute (some 84 s), not a slow machine.
    assert 1.2 <= arrivals[-1] - arrivals[0] < 30.0


def test_tokens_per_minute_limit_paces_requests(project: Project) -> None:
    from twt_backend.generation import load_queries, load_teachers, plan

    seed_queries(project, 6)
    with FakeOpenAIServer() as server:
        add_teacher(project, "t", base_url=server.base_url, concurrency=6, tpm=30000, max_tokens=20)
        [(teacher_id, config)] = load_teachers(project)
        items, _ = plan(project, teacher_id, config, load_queries(project, "train", None))
        need = [item.est_tokens_in + 20 for item in items]
        label(project.root, _options())
        arrivals = sorted(t for times in server.times.values() for t in times)
    # 500 tokens a second; the bucket holds max(500, largest request)
    capacity = max(500, max(need))
    expected = (sum(need) - capacity) / 500
    assert expected > 0.8
    assert expected * 0.8 <= arrivals[-1] - arrivals[0] <= expected + 30  # as for rpm above


def test_cancel_event_stops_and_keeps_finished_rows(project: Project) -> None:
    seed_queries(project, 40)
    cancelled = threading.Event()
    # 8 answers, then the server holds requests until the end: the cancel lands mid-run
    with FakeOpenAIServer(latency_s=0.01, hold_after=8) as server:
        add_teacher(project, "t", base_url=server.base_url, concurrency=4)

        def cancel_once_some_are_done(snapshot: dict[str, Any]) -> None:
            if snapshot["bars"]["t"]["done"] >= 4:
                cancelled.set()

        summary = label(
            project.root, _options(), on_progress=cancel_once_some_are_done, cancelled=cancelled
        )
        served = sum(server.served_ok.values())
    assert summary.stopped == "cancelled"
    stored = project.scalar("SELECT COUNT(*) FROM generations WHERE status = 'ok'")
    assert 0 < stored < 40
    assert served - stored <= 4  # at most the in-flight ones are lost
    assert json.loads(json.dumps(summary.bars))["t"]["done"] == stored
