"""Helpers for the selection tests: rows inserted with plain SQL, a counting embedder."""

from __future__ import annotations

import hashlib
import json
from itertools import count
from typing import Any

import numpy as np

from twt_backend.selection.embedder import Embedder
from twt_backend.store import Project, utcnow

_serial = count()


def add_teacher(project: Project, name: str) -> int:
    with project.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO teachers(name, provider, model, config, created_at)"
            " VALUES (?, 'replay', 'file.jsonl', '{}', ?)",
            (name, utcnow()),
        )
    return int(cursor.lastrowid or 0)


def add_query(
    project: Project,
    text: str,
    reference: str | None = None,
    split: str = "train",
    payload: dict[str, Any] | None = None,
) -> int:
    payload = payload or {"question": text}
    digest = hashlib.sha256(f"{text}|{split}|{next(_serial)}".encode()).hexdigest()
    with project.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO queries(source_id, split, payload, reference, content_hash, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (f"q{next(_serial)}", split, json.dumps(payload), reference, digest, utcnow()),
        )
    return int(cursor.lastrowid or 0)


def add_generation(
    project: Project,
    query_id: int,
    teacher_id: int,
    rationale: str | None,
    answer: str | None,
    confidence: float | None,
    parse_status: str = "ok",
    logprob_mean: float | None = None,
    status: str = "ok",
    purpose: str = "label",
) -> int:
    now = utcnow()
    with project.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO generations(query_id, teacher_id, purpose, request_hash, status, raw_text,"
            " rationale, answer, confidence, parse_status, logprob_mean, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?)",
            (
                query_id,
                teacher_id,
                purpose,
                f"h{next(_serial)}",
                status,
                rationale,
                answer,
                confidence,
                parse_status,
                logprob_mean,
                now,
                now,
            ),
        )
    return int(cursor.lastrowid or 0)


class CountingEmbedder(Embedder):
    """The real model, with a count of how often and on how many texts it was called."""

    def __init__(self, folder: str, model: Any = None):
        super().__init__(folder, batch_size=32, device="cpu")
        self._model = model
        self.calls = 0
        self.texts = 0

    def encode(self, texts: Any) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return super().encode(texts)
