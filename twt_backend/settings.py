"""Project-level configuration: the config dataclasses saved in the project's meta table.

The GUI's Setup page saves them; CLI flags override them for one run.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

from twt_backend.config import from_dict
from twt_backend.errors import UsageError
from twt_backend.store import Project

T = TypeVar("T")


def _key(cls: type) -> str:
    return f"config.{cls.__name__}"


def load_config(project: Project, cls: type[T]) -> T:
    """The saved config of this class, or the paper's defaults."""
    raw = project.get_meta(_key(cls))
    if not raw:
        return cls()
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    data = {k: v for k, v in json.loads(raw).items() if k in names}  # drop retired fields
    try:
        return from_dict(cls, data)
    except UsageError as exc:  # a received or hand-edited project
        raise UsageError(
            f"{exc} (saved {cls.__name__} of {project.root}: save it again from the app's "
            "Setup page)"
        ) from None


def save_config(project: Project, config: Any) -> None:
    from twt_backend.config import validate_fields

    validate_fields(config)
    with project.transaction():
        project.set_meta(
            _key(type(config)),
            json.dumps(dataclasses.asdict(config), sort_keys=True, allow_nan=False),
        )


def with_overrides(config: T, overrides: dict[str, Any]) -> T:
    """A copy with the non-None overrides applied and validated (for CLI flags)."""
    data = dataclasses.asdict(config)  # type: ignore[call-overload]
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(type(config), data)
