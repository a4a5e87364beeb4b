"""Dual-Criteria Rejection Sampling, its alternative strategies, and sample curation.

Import-light: the embedding model, torch and sentence-transformers load only when a
selection actually has new rationales to encode.

Entry points:
  run_selection(project, cfg)          twt_backend.selection.run
  run_job(ctx)                         the "select" job kind
  effective_samples(project)           twt_backend.selection.samples (the distillation set G)
  list_samples / set_override / edit_sample / sample_history
  review statistics                    twt_backend.selection.stats
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twt_backend.jobs import JobContext


def run_job(ctx: JobContext) -> None:
    """Job body of kind "select": `ctx.config` holds a SelectionConfig as a dict."""
    from twt_backend.config import SelectionConfig, from_dict
    from twt_backend.selection.run import run_selection

    cfg = from_dict(SelectionConfig, ctx.config)
    bars: dict[str, Any] = {}

    def on_progress(phase: str, done: int, total: int) -> None:
        bars[phase] = {"done": done, "total": total}
        ctx.progress(bars=bars, message=f"{phase}: {done}/{total}")

    ctx.progress(force=True, bars=bars, message=f"selecting ({cfg.strategy})")
    result = run_selection(
        ctx.project, cfg, on_progress=on_progress, check_cancelled=ctx.check_cancelled
    )
    message = (
        f"{cfg.strategy}: kept {result.kept} of {result.generations} outputs over "
        f"{result.queries} queries ({result.encoded} rationales encoded, {result.cached} cached)"
    )
    ctx.progress(force=True, bars=bars, message=message)
    ctx.log(message)
