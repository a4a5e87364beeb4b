"""Setup controller: teachers (config without secrets), API keys, test connection, and
the saved selection/training/LoRA/launcher configs. The operations are in
twt_backend.ops.teachers, shared with `twt teacher` and the demo."""

from __future__ import annotations

from typing import Any

from twt_backend.config import TeacherConfig
from twt_backend.ops import teachers as ops
from twt_backend.ops.projects import Project
from twt_backend.ops.teachers import KEY_RULE, KEYRING_SERVICE, key_rule

__all__ = ["KEYRING_SERVICE", "KEY_RULE", "SetupController", "key_rule"]


class SetupController:
    def __init__(self, project: Project):
        self.project = project

    # ---- teachers ----------------------------------------------------------------------
    def teachers(self) -> list[dict[str, Any]]:
        return ops.teachers(self.project)

    def save_teacher(self, config: TeacherConfig, enabled: bool = True) -> int:
        return ops.save_teacher(self.project, config, enabled=enabled).id

    def delete_teacher(self, name: str) -> None:
        ops.delete_teacher(self.project, name)

    @staticmethod
    def store_key(config: TeacherConfig, key: str) -> TeacherConfig:
        """Put the key in the OS keyring (never the store); the config names the entry."""
        return ops.store_key(config, key)

    # ---- test connection (the same function as `twt teacher test`) ----------------------
    async def test_connection(self, config: TeacherConfig) -> dict[str, Any]:
        return await ops.test_teacher(self.project, config)
