"""Helpers for the GUI tests: sample projects, settings in a temp file, a qasync loop."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from twt_backend.store import Project, utcnow

SCREENSHOTS = Path(__file__).resolve().parent / ".cache" / "screenshots"


def add_queries(project: Project, n: int, split_every: int = 5) -> None:
    with project.transaction() as conn:
        for i in range(n):
            payload = json.dumps({"question": f"Tom has {i} apples and buys 3 more. How many?"})
            conn.execute(
                "INSERT INTO queries(source_id, split, payload, reference, source, content_hash,"
                " created_at) VALUES (?, ?, ?, ?, 'test', ?, ?)",
                (
                    f"q{i}",
                    "test" if i % split_every == 0 else "train",
                    payload,
                    str(i + 3),
                    hashlib.sha1(payload.encode()).hexdigest(),
                    utcnow(),
                ),
            )


def add_teacher(project: Project, name: str, model: str = "m") -> int:
    with project.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO teachers(name, provider, model, config, enabled, created_at)"
            " VALUES (?, 'openai', ?, ?, 1, ?)",
            (
                name,
                model,
                json.dumps({"name": name, "provider": "openai", "model": model}),
                utcnow(),
            ),
        )
    return int(cursor.lastrowid or 0)


def image_colours(path: Path, step: int = 7) -> int:
    """How many distinct colours a sparse sample of the image holds (1 = uniform)."""
    from PySide6.QtGui import QImage

    image = QImage(str(path))
    assert not image.isNull(), f"{path} is not an image"
    colours = {
        image.pixel(x, y)
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    }
    return len(colours)


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings, tmp_path):
    """The app's main window, shown, its session closed at teardown."""
    from twt_gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.session.close()


def add_eval_rows(store: Project, method: str, correct: list[int], tokens: int) -> None:
    """Evaluation results of `method` on queries 1..n: correct (0/1) and output tokens."""
    with store.transaction() as conn:
        for qid, ok in enumerate(correct, start=1):
            conn.execute(
                "INSERT INTO eval_results(method, query_id, output, answer, tokens, correct,"
                " created_at) VALUES (?, ?, 'out', '1', ?, ?, ?)",
                (method, qid, tokens, ok, utcnow()),
            )


@pytest.fixture
def async_loop(qapp) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop that runs while pytest-qt processes Qt events (qtbot.waitUntil)."""
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    executor = ThreadPoolExecutor(max_workers=4)  # plain threads, joined at teardown
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    yield loop
    executor.shutdown(wait=True)
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


def add_labels(project: Project, teachers: list[str], with_selection: bool = True) -> None:
    """One ok generation per query and teacher, automatic selections, and similarities."""
    import random

    rng = random.Random(7)
    teacher_ids = {name: add_teacher(project, name) for name in teachers}
    now = utcnow()
    query_ids = [r["id"] for r in project.rows("SELECT id FROM queries ORDER BY id")]
    with project.transaction() as conn:
        for qid in query_ids:
            gen_ids = []
            for name, tid in teacher_ids.items():
                confidence = round(rng.uniform(0.6, 1.0), 2)
                cursor = conn.execute(
                    "INSERT INTO generations(query_id, teacher_id, request_hash, status, raw_text,"
                    " rationale, answer, confidence, parse_status, tokens_in, tokens_out,"
                    " cost_usd, attempts, created_at, updated_at)"
                    " VALUES (?, ?, ?, 'ok', ?, ?, ?, ?, 'ok', 50, 80, 0.001, 1, ?, ?)",
                    (
                        qid,
                        tid,
                        f"h{qid}-{tid}",
                        "raw",
                        f"{name} reasons step by step about query {qid}.",
                        str(qid + 2),
                        confidence,
                        now,
                        now,
                    ),
                )
                gen_ids.append(int(cursor.lastrowid or 0))
            if not with_selection:
                continue
            kept = gen_ids[:2]
            for gid in gen_ids:
                conn.execute(
                    "INSERT INTO selections(generation_id, query_id, strategy, selected, reason,"
                    " updated_at) VALUES (?, ?, 'dcrs', ?, ?, ?)",
                    (
                        gid,
                        qid,
                        int(gid in kept),
                        "diverse_pair" if gid in kept else "not_diverse",
                        now,
                    ),
                )
            for i, a in enumerate(gen_ids):
                for b in gen_ids[i + 1 :]:
                    sim = 0.42 if {a, b} == set(kept) else round(rng.uniform(0.6, 0.95), 3)
                    conn.execute(
                        "INSERT INTO similarities(query_id, generation_a, generation_b, model,"
                        " similarity) VALUES (?, ?, ?, 'minilm', ?)",
                        (qid, a, b, sim),
                    )
