"""The comparison plots as PNG bytes (matplotlib, Agg canvas; no pyplot global state)."""

from __future__ import annotations

import io
import math
from typing import Any

COLOURS = ("#1a73e8", "#e8710a", "#12a14b", "#c5221f", "#9334e6", "#00897b", "#5f6368")
DPI = 110
SHORT_NAMES = {"stage0": "Vanilla", "kd": "Std-KD", "dss": "DSS", "sft": "SFT"}


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def short_name(row: dict[str, Any]) -> str:
    method = row["method"]
    if method in SHORT_NAMES:
        return SHORT_NAMES[method]
    if method.startswith("stage") and method[5:].isdigit():
        prefix = "SFT, stage" if row["kind"] == "baseline" else "TwT stage"
        return f"{prefix} {method[5:]}"
    return method


def scatter_png(rows: list[dict[str, Any]]) -> bytes:
    """Accuracy against mean output tokens, one labelled point per method."""
    figure = _figure(7.2, 4.4)
    axes = figure.add_subplot()
    for i, row in enumerate(rows):
        x, y = row["mean_output_tokens"] or 0.0, 100.0 * (row["accuracy"] or 0.0)
        marker = "s" if row["kind"] == "baseline" else "o"
        axes.scatter(
            [x], [y], s=70, color=_colour(i), marker=marker, zorder=3, label=row["display"]
        )
        offset = (6, 6) if i % 2 == 0 else (6, -13)
        axes.annotate(
            short_name(row), (x, y), xytext=offset, textcoords="offset points", fontsize=8
        )
    axes.set_xlabel("mean output tokens")
    axes.set_ylabel("accuracy (%)")
    axes.set_xlim(left=0, right=1.15 * max((r["mean_output_tokens"] or 0) for r in rows) or 1)
    axes.set_ylim(0, 110)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    axes.set_title(f"Accuracy vs output tokens ({rows[0]['n']} queries; squares: baselines)")
    return _png(figure)


def accuracy_bars_png(rows: list[dict[str, Any]]) -> bytes:
    """Accuracy per method as horizontal bars, best baseline marked."""
    figure = _figure(6.4, 0.45 * len(rows) + 1.2)
    axes = figure.add_subplot()
    labels = [r["display"] + (" *" if r["best_baseline"] else "") for r in rows]
    values = [100.0 * (r["accuracy"] or 0.0) for r in rows]
    positions = list(range(len(rows)))
    axes.barh(positions, values, color=[_colour(i) for i in positions])
    for position, value in zip(positions, values, strict=True):
        axes.text(value + 1, position, f"{value:.1f}", va="center", fontsize=8)
    axes.set_yticks(positions, labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 110)
    axes.set_xlabel("accuracy (%)  (* best baseline)")
    return _png(figure)


def histograms_png(tokens: dict[str, list[int]], rows: list[dict[str, Any]]) -> bytes:
    """One output-token histogram per method, on shared bins."""
    shown = [r for r in rows if tokens.get(r["method"])]
    columns = min(3, max(1, len(shown)))
    lines = max(1, math.ceil(len(shown) / columns))
    figure = _figure(3.2 * columns, 2.4 * lines)
    most = max((max(tokens[r["method"]]) for r in shown), default=1)
    bins = [most * i / 20 for i in range(21)] if most > 0 else 1
    for i, row in enumerate(shown):
        axes = figure.add_subplot(lines, columns, i + 1)
        axes.hist(tokens[row["method"]], bins=bins, color=_colour(rows.index(row)))
        axes.set_title(row["display"], fontsize=8)
        axes.set_xlabel("output tokens", fontsize=7)
        axes.tick_params(labelsize=7)
    if not shown:
        figure.text(0.5, 0.5, "no token counts", ha="center")
    return _png(figure)
