"""A project's saved settings (one config dataclass per section), for the front ends."""

from __future__ import annotations

from twt_backend.settings import load_config, save_config

__all__ = ["load_config", "save_config"]
