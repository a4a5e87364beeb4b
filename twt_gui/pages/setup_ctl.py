"""Setup controller: teachers (config without secrets), API keys, test connection, and
the saved selection/training/LoRA/launcher configs."""

from __future__ import annotations

import dataclasses
from typing import Any

from twt_backend.config import TeacherConfig, stored_teacher, to_json
from twt_backend.errors import UsageError
from twt_backend.store import Project, utcnow

KEYRING_SERVICE = "twt-studio"
KEY_RULE = (
    "A provider's default variable ({default}) goes only to its default endpoint. A custom "
    "base URL gets a key only from a variable or keyring entry named here, otherwise none."
)


def key_rule(provider: str, base_url: str | None, env_name: str | None, keyring: bool) -> str:
    """What this teacher would send, and the rule (shown beside the Setup page's key fields)."""
    from twt_backend.secrets import DEFAULT_KEY_ENV, check_variable_name, key_source

    if env_name:
        try:
            check_variable_name(env_name)
        except UsageError:  # a pasted key: say so, never show it
            return "Variable name: give the NAME of a variable holding the key, not the key."
    config = TeacherConfig(
        provider=provider,
        base_url=base_url or None,
        api_key_env=env_name or None,
        keyring_service=KEYRING_SERVICE if keyring else None,
    )
    default = DEFAULT_KEY_ENV.get(provider)
    if default is None:
        return f"Sends: {key_source(config)}."
    return f"Sends: {key_source(config)}.\n" + KEY_RULE.format(default=default)


class SetupController:
    def __init__(self, project: Project):
        self.project = project

    # ---- teachers ----------------------------------------------------------------------
    def teachers(self) -> list[dict[str, Any]]:
        rows = self.project.rows("SELECT id, name, enabled, config FROM teachers ORDER BY id")
        for row in rows:
            row["config"] = stored_teacher(row["name"], row["config"])
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

    # ---- test connection (the same function as `twt teacher test`) ----------------------
    def sample_query(self) -> dict[str, Any]:
        from twt_backend.teachers.probe import sample_query

        return sample_query(self.project)

    async def test_connection(self, config: TeacherConfig) -> dict[str, Any]:
        from twt_backend.teachers import probe

        query = self.sample_query()
        return await probe.test_connection(self.project.task, config, query, self.project.root)
