"""The engine with each provider: OpenAI Batch API, replay, local model, `transformers serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAIServer, add_teacher, seed_queries

from twt_backend.generation import LabelOptions, label
from twt_backend.generation_batch import open_batches
from twt_backend.store import Project

FAST = {"backoff_initial_s": 0.02, "flush_s": 0.05, "progress_s": 0.05, "batch_poll_s": 0.05}


def _statuses(project: Project) -> dict[str, int]:
    rows = project.rows("SELECT status, COUNT(*) AS n FROM generations GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


def test_batch_api_submits_polls_and_ingests_at_half_price(project: Project) -> None:
    seed_queries(project, 12)
    failing = lambda key, attempt: "500" if attempt == 1 and int(key, 16) % 4 == 0 else None  # noqa: E731
    with FakeOpenAIServer(faults=failing, batch_delay_s=0.05) as server:
        teacher_id = add_teacher(project, "b", base_url=server.base_url, use_batch_api=True,
                                 price_in=2.0, price_out=4.0)  # fmt: skip
        summary = label(project.root, LabelOptions(**FAST))
        assert len(server.batches) == 1
        failed = _statuses(project).get("failed", 0)
        assert failed >= 1 and _statuses(project)["ok"] == 12 - failed
        errors = project.rows("SELECT error FROM generations WHERE status = 'failed'")
        assert all("injected 500" in r["error"] for r in errors)
        label(project.root, LabelOptions(**FAST))  # the failed ones go into a second batch
        assert len(server.batches) == 2
        assert server.duplicates() == {}
    assert _statuses(project) == {"ok": 12}
    assert open_batches(project, teacher_id) == []
    row = project.rows("SELECT tokens_in, tokens_out, cost_usd, parse_status FROM generations")[0]
    assert row["cost_usd"] == pytest.approx(
        0.5 * (row["tokens_in"] * 2 + row["tokens_out"] * 4) / 1e6
    )
    assert row["parse_status"] == "ok"
    assert summary.spent_usd > 0


def test_batch_api_resumes_an_open_batch_instead_of_resubmitting(project: Project) -> None:
    seed_queries(project, 5)
    # the batch stays in progress until released: the cancel lands before it completes
    with FakeOpenAIServer(batch_delay_s=0.05, hold_batches=True) as server:
        teacher_id = add_teacher(project, "b", base_url=server.base_url, use_batch_api=True)
        cancelled = threading.Event()

        def cancel_once_submitted(snapshot: dict[str, Any]) -> None:
            if snapshot["bars"]["b"]["in_flight"] == 5:
                cancelled.set()

        first = label(
            project.root,
            LabelOptions(**FAST),
            on_progress=cancel_once_submitted,
            cancelled=cancelled,
        )
        assert first.stopped == "cancelled"
        assert len(open_batches(project, teacher_id)) == 1
        assert _statuses(project) == {}
        server.release()
        label(project.root, LabelOptions(**FAST))
        assert len(server.batches) == 1  # polled, not submitted again
        assert server.duplicates() == {}
    assert _statuses(project) == {"ok": 5}
    assert open_batches(project, teacher_id) == []


def test_replay_teacher_labels_from_a_file(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p", "math")
    seed_queries(project, 3)
    outputs = tmp_path / "earlier.jsonl"
    records = [{"id": f"q{i}", "explanation": {"open-ended": f"Double {i}."}} for i in (0, 2)]
    outputs.write_text("\n".join(json.dumps(r) for r in records))
    mapping = "#rationale=explanation.open-ended&answer=@reference&confidence=0.97"
    add_teacher(project, "cose", provider="replay", model=f"{outputs}{mapping}")
    label(project.root, LabelOptions(**FAST))
    rows = project.rows(
        "SELECT q.source_id, g.status, g.rationale, g.answer, g.confidence, g.parse_status, g.error"
        " FROM generations g JOIN queries q ON q.id = g.query_id ORDER BY q.id"
    )
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert rows[2]["rationale"] == "Double 2." and rows[2]["answer"] == "4"
    assert rows[0]["confidence"] == 0.97 and rows[0]["parse_status"] == "ok"
    assert "no record with id=q1" in rows[1]["error"]
    project.close()


def test_local_teacher_labels_through_the_engine(project: Project, tiny_model_dir: Path) -> None:
    seed_queries(project, 3)
    add_teacher(project, "tiny", provider="local", model=str(tiny_model_dir), concurrency=3,
                max_tokens=8, temperature=0.0)  # fmt: skip
    label(project.root, LabelOptions(**FAST))
    rows = project.rows(
        "SELECT status, raw_text, tokens_in, tokens_out, parse_status FROM generations"
    )
    assert len(rows) == 3
    for row in rows:
        assert row["status"] == "ok" and row["raw_text"] is not None
        assert row["tokens_in"] > 50 and 0 < row["tokens_out"] <= 8
        assert row["parse_status"] in (
            "ok",
            "truncated",  # cut at max_tokens=8 without a parse
            "no_confidence",
            "no_answer",
            "empty",
            "confidence_out_of_range",
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_transformers_serve_real_model(project: Project, smollm2_dir: Path) -> None:
    """The openai provider against `transformers serve` serving SmolLM2-135M-Instruct."""
    port = _free_port()
    model = str(smollm2_dir)
    serve = Path(sys.executable).with_name("transformers")
    server = subprocess.Popen(
        [str(serve), "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
                break
            except OSError:
                assert server.poll() is None, "transformers serve exited"
                assert time.monotonic() < deadline, "transformers serve did not start"
                time.sleep(0.5)
        seed_queries(project, 1)
        add_teacher(project, "smol", model=model, base_url=f"http://127.0.0.1:{port}/v1",
                    max_tokens=16, temperature=0.0, timeout_s=90)  # fmt: skip
        label(project.root, LabelOptions(**FAST))
    finally:
        server.terminate()
        server.wait(timeout=30)
    rows = project.rows("SELECT status, raw_text, tokens_in, tokens_out, error FROM generations")
    assert [r["status"] for r in rows] == ["ok"], rows
    assert rows[0]["raw_text"].strip()
    assert rows[0]["tokens_in"] > 100 and 0 < rows[0]["tokens_out"] <= 16
