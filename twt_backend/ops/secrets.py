"""Keeping keys out of what the front ends show: `scrub` masks them in any text."""

from __future__ import annotations

from twt_backend.secrets import scrub

__all__ = ["scrub"]
