"""Teacher operations: save (one rule for the CLI, the app and the demo), list, load, test,
enable/disable, delete, and the key rule shown beside the key fields.

A config is checked here before anything is written: finite numbers, choices and bounds
(`config.validate_fields`), a variable *name* rather than a pasted key
(`secrets.check_variable_name`). Keys never enter the store: a config names where its key
comes from (`secrets.key_source`, docs/security.md), the OS keyring holds a typed key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from twt_backend import secrets
from twt_backend.config import TeacherConfig, from_dict, stored_teacher, to_json
from twt_backend.errors import UsageError
from twt_backend.store import Project, teachers_repo

KEYRING_SERVICE = "twt-studio"
KEY_RULE = (
    "A provider's default variable ({default}) goes only to its default endpoint. A custom "
    "base URL gets a key only from a variable or keyring entry named here, otherwise none."
)


@dataclasses.dataclass(frozen=True)
class Saved:
    id: int
    replaced: bool


def save_teacher(
    project: Project,
    config: TeacherConfig,
    *,
    enabled: bool = True,
    replace: bool = True,
) -> Saved:
    """Add a teacher, or replace the one of that name (refused unless `replace`). The row
    is what this save says, whoever calls it: config, provider, model and `enabled` (a
    re-added teacher is enabled again unless told otherwise)."""
    config.validate()
    existing = teachers_repo.find_id(project, config.name)
    if existing is not None and not replace:
        raise UsageError(f"a teacher named {config.name!r} exists; use --replace to change it")
    teacher_id = teachers_repo.upsert(
        project, config.name, config.provider, config.model, to_json(config), enabled
    )
    return Saved(teacher_id, existing is not None)


def add_missing(project: Project, teachers: list[tuple[TeacherConfig, bool]]) -> None:
    """Add each (config, enabled) whose name is not taken; keep teachers of the same name."""
    for config, _ in teachers:
        config.validate()
    teachers_repo.insert_missing(
        project,
        [(c.name, c.provider, c.model, to_json(c), enabled) for c, enabled in teachers],
    )


def set_enabled(project: Project, name: str, enabled: bool) -> None:
    if not teachers_repo.set_enabled(project, name, enabled):
        raise UsageError(f"no teacher named {name!r} in {project.root}")


def delete_teacher(project: Project, name: str) -> None:
    """Delete a teacher that has no outputs (one with outputs is disabled instead)."""
    used = teachers_repo.output_count(project, name)
    if used:
        raise UsageError(f"teacher {name!r} has {used} outputs; disable it instead")
    teachers_repo.delete(project, name)


def load_teacher(project: Project, name: str) -> TeacherConfig:
    raw = teachers_repo.raw_config(project, name)
    if raw is None:
        raise UsageError(f"no teacher named {name!r} in {project.root}")
    return stored_teacher(name, raw)


def teachers(project: Project) -> list[dict[str, Any]]:
    """id, name, provider, model, enabled and the checked `config` of every teacher."""
    rows = teachers_repo.rows(project)
    for row in rows:
        row["config"] = stored_teacher(row["name"], row["config"])
    return rows


def teacher_summaries(project: Project) -> list[dict[str, Any]]:
    """id, name, provider, model and enabled of every teacher (configs not parsed)."""
    return [{k: v for k, v in row.items() if k != "config"} for row in teachers_repo.rows(project)]


def teacher_names(project: Project) -> list[str]:
    return teachers_repo.names(project)


def teacher_table(project: Project) -> list[dict[str, Any]]:
    """Teachers with config as a dict, ok/failed counts and cost (`twt teacher list`)."""
    rows = teachers_repo.rows_with_totals(project)
    for row in rows:
        row["config"] = dataclasses.asdict(stored_teacher(row["name"], row["config"]))
        row["ok"], row["failed"] = int(row["ok"] or 0), int(row["failed"] or 0)
    return rows


def key_source(config: TeacherConfig | dict[str, Any]) -> str:
    """Where the key of this teacher comes from, in words (never the key)."""
    if isinstance(config, dict):
        config = from_dict(TeacherConfig, config)
    return secrets.key_source(config)


def store_key(config: TeacherConfig, key: str) -> TeacherConfig:
    """Put the key in the OS keyring (never the store); the returned config names the entry."""
    import keyring

    keyring.set_password(KEYRING_SERVICE, config.name, key)
    return dataclasses.replace(config, keyring_service=KEYRING_SERVICE, api_key_env=None)


def key_rule(provider: str, base_url: str | None, env_name: str | None, keyring: bool) -> str:
    """What this teacher would send, and the rule (shown beside the Setup page's key fields)."""
    if env_name:
        try:
            secrets.check_variable_name(env_name)
        except UsageError:  # a pasted key: say so, never show it
            return "Variable name: give the NAME of a variable holding the key, not the key."
    config = TeacherConfig(
        provider=provider,
        base_url=base_url or None,
        api_key_env=env_name or None,
        keyring_service=KEYRING_SERVICE if keyring else None,
    )
    default = secrets.DEFAULT_KEY_ENV.get(provider)
    if default is None:
        return f"Sends: {secrets.key_source(config)}."
    return f"Sends: {secrets.key_source(config)}.\n" + KEY_RULE.format(default=default)


async def test_teacher(project: Project, config: TeacherConfig) -> dict[str, Any]:
    """Send one labelling request (a sample query of the project): latency and triplet."""
    from twt_backend.teachers import probe

    query = probe.sample_query(project)
    return await probe.test_connection(project.task, config, query, project.root)
