"""Test a teacher with one labelling request: shared by `twt teacher test` and the
desktop app's "Test connection" button."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from twt_backend import secrets
from twt_backend.config import TeacherConfig
from twt_backend.errors import TwtError, UsageError
from twt_backend.store import Project


def sample_query(project: Project) -> dict[str, Any]:
    """A query to test with (a train query first: replay files hold train items only)."""
    rows = project.rows(
        "SELECT id, source_id, payload, reference FROM queries"
        " ORDER BY split != 'train', id LIMIT 1"
    )
    if not rows:
        raise UsageError(
            f"{project.root}: no queries to test with; import some (Projects page or `twt import`)"
        )
    rows[0]["payload"] = json.loads(rows[0]["payload"])
    return rows[0]


def with_project_paths(config: TeacherConfig, root: Path | None) -> TeacherConfig:
    """A replay teacher's relative file made absolute against the project folder (workers
    run in the project folder; a test may not)."""
    if config.provider != "replay" or root is None:
        return config
    path, sep, mapping = config.model.partition("#")
    if Path(path).expanduser().is_absolute():
        return config
    return dataclasses.replace(config, model=f"{Path(root) / path}{sep}{mapping}")


def check_key(config: TeacherConfig) -> None:
    """Raise UsageError naming the missing variable or keyring entry (never a value)."""
    if config.provider in secrets.DEFAULT_KEY_ENV:
        secrets.api_key(config)


async def test_connection(
    task: str, config: TeacherConfig, query: dict[str, Any], root: Path | None = None
) -> dict[str, Any]:
    """Send one labelling request for `query` (id, source_id, payload, reference) and return
    latency_s, tokens_in, tokens_out, rationale, answer, confidence, parse_status and
    key_source (which key was sent, in words: `secrets.key_source`).
    Raises TwtError with a scrubbed one-line reason."""
    from twt_backend.tasks import get_task
    from twt_backend.teachers import TeacherError, make_teacher

    task_type = get_task(task)
    config = with_project_paths(config, root)
    check_key(config)
    messages = task_type.teacher_messages(query["payload"])
    teacher = make_teacher(config)
    started = time.monotonic()
    try:
        await teacher.load()
        completion = await asyncio.wait_for(
            teacher.complete(
                messages,
                max_tokens=config.max_tokens,
                temperature=config.temperature,
                logprobs=config.logprobs,
                query=query,
            ),
            timeout=config.timeout_s,
        )
    except (TeacherError, TimeoutError, TwtError) as exc:
        raise TwtError(f"teacher {config.name}: {secrets.scrub(exc) or 'timeout'}") from None
    finally:
        await teacher.aclose()
    parsed = completion.parsed or task_type.parse_teacher_output(completion.text, query["payload"])
    return {
        "latency_s": time.monotonic() - started,
        "tokens_in": completion.tokens_in,
        "tokens_out": completion.tokens_out,
        "rationale": parsed.rationale,
        "answer": parsed.answer,
        "confidence": parsed.confidence,
        "parse_status": parsed.status,
        "key_source": secrets.key_source(config),
    }
