"""The self-contained HTML report: table, plots as base64 PNG data URIs, configuration."""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #202124; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #dadce0; padding: 0.3em 0.7em; text-align: right; }
th { background: #f1f3f4; } td.name { text-align: left; }
tr.best td { font-weight: bold; } .up { color: #12a14b; } .down { color: #c5221f; }
img { max-width: 100%; margin: 0.5em 0; } code, pre { background: #f1f3f4; padding: 0.1em 0.3em; }
"""


def fmt(value: float | None, digits: int = 1, suffix: str = "", sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:{'+' if sign else ''}.{digits}f}{suffix}"


def interval(row: dict[str, Any]) -> str:
    """The 95% Wilson interval of a row's accuracy in percent: "[50.9, 73.0]"."""
    if row.get("ci_low") is None or row.get("ci_high") is None:
        return "–"
    return f"[{100.0 * row['ci_low']:.1f}, {100.0 * row['ci_high']:.1f}]"


def p_value(value: float | None) -> str:
    """A McNemar p-value: "0.031", "<0.001"; a dash for none."""
    if value is None:
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def comparison_cells(row: dict[str, Any], best_mark: str = " (best baseline)") -> list[str]:
    """The table cells of one method, as plain text (also the CLI's and the model card's)."""
    accuracy = None if row["accuracy"] is None else 100.0 * row["accuracy"]
    stale = " [stale]" if row.get("stale") else ""
    median, p90 = row.get("median_output_tokens"), row.get("p90_output_tokens")
    return [
        row["display"] + (best_mark if row["best_baseline"] else "") + stale,
        str(row["n"]),
        fmt(accuracy),
        interval(row),
        fmt(row["delta_accuracy_pts"], sign=True),
        p_value(row.get("p_vs_stage1")),
        fmt(row["mean_output_tokens"]),
        f"{fmt(median, 0)} / {fmt(p90, 0)}",
        fmt(row["delta_tokens_pct"], suffix="%", sign=True),
    ]


TABLE_HEADERS = (
    "Method",
    "Queries",
    "Accuracy (%)",
    "95% CI (%)",
    "Δ acc (pts)",
    "p vs stage 1",
    "Output tokens",
    "Median / p90",
    "Δ tokens",
)


def _delta_class(value: float | None, higher_is_better: bool) -> str:
    if not value:
        return ""
    return "up" if (value > 0) == higher_is_better else "down"


def _table(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in TABLE_HEADERS)
    body = []
    for row in rows:
        cells = comparison_cells(row)
        classes = ["name", "", "", "", _delta_class(row["delta_accuracy_pts"], True), "", "", ""]
        classes.append(_delta_class(row["delta_tokens_pct"], False))
        tds = "".join(
            f'<td class="{c}">{escape(text)}</td>' for c, text in zip(classes, cells, strict=True)
        )
        body.append(f'<tr class="{"best" if row["best_baseline"] else ""}">{tds}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _distributions(rows: list[dict[str, Any]]) -> str:
    """Predicted answers per method (a constant answer shows as one bar of 100%)."""
    items = []
    for row in rows:
        counts = row.get("answer_distribution") or {}
        total = sum(counts.values())
        if not total:
            continue
        shown = ", ".join(
            f"{escape(a)}: {100.0 * n / total:.0f}%" for a, n in list(counts.items())[:8]
        )
        more = f", … ({len(counts) - 8} more)" if len(counts) > 8 else ""
        items.append(f"<li>{escape(row['display'])}: {shown}{more}</li>")
    if not items:
        return ""
    return f"<h3>Predicted answers</h3><ul>{''.join(items)}</ul>"


def _config(config: dict[str, Any]) -> str:
    parts = ["<h2>Configuration</h2>"]
    teachers = config.get("teachers") or []
    if teachers:
        head = "".join(f"<th>{h}</th>" for h in ("Teacher", "Provider", "Model", "Base URL"))
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="name">{escape(str(t[k] or ""))}</td>'
                for k in ("name", "provider", "model", "base_url")
            )
            + "</tr>"
            for t in teachers
        )
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    rest = {k: v for k, v in config.items() if k != "teachers"}
    parts.append(f"<pre>{escape(json.dumps(rest, indent=2, sort_keys=True))}</pre>")
    return "".join(parts)


def _images(images: dict[str, bytes]) -> str:
    return "".join(
        f'<figure><img alt="{escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode("ascii")}"></figure>'
        for name, data in images.items()
    )


def render_html(payload: dict[str, Any], images: dict[str, bytes]) -> str:
    rows = payload["rows"]
    title = f"TwT Studio report: {payload['project']}"
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>",
        f"<p>Task: {escape(payload['task'])}. Generated {escape(payload['generated_at'])}.</p>",
    ]
    if not rows:
        steps = "".join(f"<li><code>{escape(s)}</code></li>" for s in payload["next_steps"])
        parts.append(
            "<h2>No evaluation results yet</h2><p>Nothing has been evaluated in this project, "
            f"so there is nothing to compare. Run next:</p><ol>{steps}</ol>"
        )
    elif not payload["n_common"]:
        parts.append(
            "<h2>No common queries</h2><p>The evaluated methods share no query, so they cannot "
            "be compared; evaluate them on the same test split.</p>"
        )
    else:
        best = next((r["display"] for r in rows if r["best_baseline"]), None)
        against = f"against the best baseline, {escape(best)}" if best else "(no baseline yet)"
        parts.append(
            f"<h2>Comparison</h2><p>{payload['n_common']} queries answered by every method; "
            f"changes {against}; p: McNemar exact test on those queries. Rows marked "
            f"[stale] were made by an older adapter (or one trained on data that changed "
            f"since): counted apart, compared with nothing.</p>{_table(rows)}"
            f"{_distributions(rows)}{_images(images)}"
        )
    parts.append(_config(payload["config"]))
    parts.append("</body></html>")
    return "\n".join(parts)
