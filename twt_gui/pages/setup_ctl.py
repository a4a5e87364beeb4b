"""Setup controller: teachers (config without secrets), API keys, test connection, and
the saved selection/training/LoRA/launcher configs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

from twt_backend import secrets
from twt_backend.config import TeacherConfig, from_dict, to_json
from twt_backend.errors import TwtError, UsageError
from twt_backend.store import Project, utcnow

KEYRING_SERVICE = "twt-studio"


class SetupController:
    def __init__(self, project: Project):
        self.project = project

    # ---- teachers ----------------------------------------------------------------------
    def teachers(self) -> list[dict[str, Any]]:
        rows = self.project.rows("SELECT id, name, enabled, config FROM teachers ORDER BY id")
        for row in rows:
            row["config"] = from_dict(TeacherConfig, json.loads(row["config"]))
        return rows

    def save_teacher(self, config: TeacherConfig, enabled: bool = True) -> int:
        config.validate()
        existing = self.project.scalar("SELECT id FROM teachers WHERE name=?", (config.name,))
        with self.project.transaction() as conn:
            if existing:
                conn.execute(
                    "UPDATE teachers SET provider=?, model=?, config=?, enabled=? WHERE id=?",
                    (config.provider, config.model, to_json(config), int(enabled), existing),
                )
                return int(existing)
            cursor = conn.execute(
                "INSERT INTO teachers(name, provider, model, config, enabled, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    config.name,
                    config.provider,
                    config.model,
                    to_json(config),
                    int(enabled),
                    utcnow(),
                ),
            )
            return int(cursor.lastrowid or 0)

    def delete_teacher(self, name: str) -> None:
        used = self.project.scalar(
            "SELECT COUNT(*) FROM generations g JOIN teachers t ON t.id=g.teacher_id WHERE t.name=?",
            (name,),
        )
        if used:
            raise UsageError(f"teacher {name!r} has {used} outputs; disable it instead")
        with self.project.transaction() as conn:
            conn.execute("DELETE FROM teachers WHERE name=?", (name,))

    @staticmethod
    def store_key(config: TeacherConfig, key: str) -> TeacherConfig:
        """Put the key in the OS keyring (never the store); the config names the entry."""
        import keyring

        keyring.set_password(KEYRING_SERVICE, config.name, key)
        return dataclasses.replace(config, keyring_service=KEYRING_SERVICE, api_key_env=None)

    # ---- test connection ---------------------------------------------------------------
    def sample_query(self) -> dict[str, Any]:
        rows = self.project.rows("SELECT id, payload, reference FROM queries ORDER BY id LIMIT 1")
        if not rows:
            raise UsageError("no queries to test with: import some on the Projects page first")
        rows[0]["payload"] = json.loads(rows[0]["payload"])
        return rows[0]


async def test_connection(
    task_name: str, config: TeacherConfig, query: dict[str, Any]
) -> dict[str, Any]:
    """Send one labelling request; return the parsed triplet, tokens and latency."""
    from twt_backend.tasks import get_task
    from twt_backend.teachers import TeacherError, make_teacher

    task = get_task(task_name)
    messages = task.teacher_messages(query["payload"])
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
    parsed = completion.parsed or task.parse_teacher_output(completion.text, query["payload"])
    return {
        "latency_s": time.monotonic() - started,
        "tokens_in": completion.tokens_in,
        "tokens_out": completion.tokens_out,
        "rationale": parsed.rationale,
        "answer": parsed.answer,
        "confidence": parsed.confidence,
        "parse_status": parsed.status,
    }
