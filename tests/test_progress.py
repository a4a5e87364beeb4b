"""Progress a person can read: step k of N / items done of total, elapsed, ETA and phase,
the same words in the terminal follower, `twt runs` and the app (twt_backend.progress)."""

from __future__ import annotations

import io
import json
import os
import socket
import time
from datetime import datetime, timezone

from rich.console import Console

from twt_backend import jobs
from twt_backend.cli import main
from twt_backend.cli.follow import ProgressView
from twt_backend.progress import duration, job_progress, stamp

T0 = 1_700_000_000.0  # a fixed "now" for the tests


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


def job_row(status="running", kind="train", started=T0 - 42, finished=None, **snapshot):
    return {
        "id": 7,
        "kind": kind,
        "name": "stage1",
        "status": status,
        "started_at": iso(started),
        "finished_at": iso(finished) if finished else None,
        "progress": snapshot,
    }


def test_stamp_estimates_each_bar_from_its_own_rate_since_first_seen():
    clocks: dict = {}
    first = stamp({"bars": {"train": {"done": 10, "total": 40}}}, clocks, now=T0)
    assert first["timing"]["train"]["eta_s"] is None  # one observation: no rate yet
    later = stamp({"bars": {"train": {"done": 20, "total": 40}}}, clocks, now=T0 + 5)
    # 10 steps in 5 s (the 10 done before first sight, e.g. a resumed run, do not count)
    assert later["timing"]["train"] == {"eta_s": 10.0, "at": T0 + 5}
    assert later["bars"] == {"train": {"done": 20, "total": 40}}  # bars untouched
    done = stamp({"bars": {"train": {"done": 40, "total": 40}}}, clocks, now=T0 + 9)
    assert done["timing"]["train"]["eta_s"] == 0.0
    mirrored = {"bars": {"x": {"done": 1, "total": 2}}, "timing": {"x": {"eta_s": 3, "at": 1}}}
    assert stamp(mirrored, clocks, now=T0)["timing"]["x"] == {"eta_s": 3, "at": 1}


def test_training_line_has_phase_step_elapsed_and_eta_counting_down():
    clocks: dict = {}
    stamp({"bars": {"train": {"done": 0, "total": 40}}}, clocks, now=T0 - 12)
    snapshot = stamp(
        {"phase": "training", "bars": {"train": {"done": 12, "total": 40}}}, clocks, now=T0 - 2
    )
    row = job_row(**snapshot)
    # 12 steps in 10 s: 28 steps left = 23.3 s, estimated 2 s ago
    assert job_progress(row, now=T0).line() == "training · step 12 of 40 · 0:42 elapsed · ETA 0:21"
    assert job_progress(row, now=T0).short() == "training 12/40 ETA 0:21"
    assert job_progress(row, now=T0 + 100).eta() == "ETA 0:00"  # never negative


def test_phase_is_read_from_the_snapshot_or_derived_while_loading():
    assert job_progress(job_row(kind="train"), now=T0).line() == "loading · 0:42 elapsed"
    assert job_progress(job_row(status="queued", kind="eval"), now=T0).phase == "queued"
    evaluating = job_row(kind="eval", bars={"stage1": {"done": 8, "total": 50}})
    assert job_progress(evaluating, now=T0).line().startswith("evaluating · 8 of 50 items")
    saving = job_row(phase="saving", bars={"train": {"done": 40, "total": 40}})
    assert job_progress(saving, now=T0).line().startswith("saving · step 40 of 40")


def test_labelling_sums_the_teachers_and_the_slowest_sets_the_eta():
    snapshot = {
        "bars": {
            "gpt": {"done": 100, "total": 100},
            "mistral": {"done": 40, "total": 100},
            "local": {"done": 70, "total": 100},
        },
        "timing": {
            "gpt": {"eta_s": 0.0, "at": T0},
            "mistral": {"eta_s": 90.0, "at": T0},
            "local": {"eta_s": 30.0, "at": T0},
        },
    }
    readable = job_progress(job_row(kind="generate", **snapshot), now=T0)
    assert readable.line() == "labelling · 210 of 300 items · 0:42 elapsed · ETA 1:30"
    assert [b.eta_s for b in readable.bars] == [0.0, 90.0, 30.0]


def test_ended_job_shows_how_long_it_took_and_no_eta():
    snapshot = {"phase": "saving", "bars": {"train": {"done": 40, "total": 40}}}
    row = job_row(status="finished", started=T0 - 133, finished=T0 - 1, **snapshot)
    readable = job_progress(row, now=T0)
    assert readable.line() == "finished · step 40 of 40 · took 2:12"
    assert readable.short() == "40/40 in 2:12"
    assert readable.eta() is None and readable.phase is None


def test_duration_format():
    assert [duration(s) for s in (None, 0, 59.6, 61, 3725)] == [
        "?",
        "0:00",
        "1:00",
        "1:01",
        "1:02:05",
    ]


def test_follower_shows_the_job_line_and_each_bar_with_its_eta():
    clocks: dict = {}
    stamp({"bars": {"train": {"done": 0, "total": 8}}}, clocks, now=T0 - 4)
    snapshot = stamp(
        {"phase": "training", "bars": {"train": {"done": 3, "total": 8, "loss": 1.25}}},
        clocks,
        now=T0,
    )
    view = ProgressView()
    view.update(job_row(**snapshot), now=T0)
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(view)
    text = out.getvalue()
    assert "stage1: training · step 3 of 8 · 0:42 elapsed · ETA 0:07" in text
    assert "3/8" in text and "loss=1.25" in text
    assert "eta_s" not in text and "timing" not in text


def test_twt_runs_table_has_a_progress_column(project, capsys):
    job_id = jobs.create_job(project, "train", {"stage": 1}, name="stage1")
    snapshot = {"phase": "training", "bars": {"train": {"done": 5, "total": 20}}}
    with project.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET status='running', pid=?, host=?, started_at=?, heartbeat_at=?,"
            " progress=? WHERE id=?",
            (
                os.getpid(),  # a live worker: `twt runs` leaves the job running
                socket.gethostname(),
                iso(time.time() - 30),
                time.time(),
                json.dumps(snapshot),
                job_id,
            ),
        )
    assert main(["runs", str(project.root)]) == 0
    out = capsys.readouterr().out
    assert "progress" in out
    assert "training 5/20" in out.replace("\n", " ").replace("│", " ")


def test_follower_of_a_pipeline_shows_its_current_step():
    snapshot = {
        "bars": {"pipeline": {"done": 2, "total": 9}, "train": {"done": 3, "total": 8}},
        "message": "[3/9] stage 1: stage 1: step 3/8",
    }
    view = ProgressView()
    view.update({**job_row(kind="pipeline", **snapshot), "name": "pipeline"}, now=T0)
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(view)
    text = out.getvalue()
    assert "pipeline: running · step 3 of 8 · 0:42 elapsed · ETA ?" in text
    assert "[3/9] stage 1: stage 1: step 3/8" in text
    assert "2/9" in text and "3/8" in text
