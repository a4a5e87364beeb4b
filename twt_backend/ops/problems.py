"""What is wrong with a project or this machine, each with its fix (`twt doctor`, the app's
problems panel)."""

from __future__ import annotations

from twt_backend.problems import Problem, check_project

__all__ = ["Problem", "check_project"]
