"""Cheap redraws for plots that grow live (training metrics at up to 10 Hz).

Measured with benchmarks/bench_gui.py: almost all of the GUI's main-thread time under live
jobs is pyqtgraph painting axes. Every new point moves an auto-ranged x axis, which
regenerates the axis text and paints the plot twice (data, then the new range). So:

* `follow_x` keeps x from 0 to a "nice" bound (1, 2, 5 x 10^k) above the last step: the
  axis changes a handful of times per run instead of at every point;
* `follow_y` does the same for y (0 to a nice bound above the largest value): a falling
  loss or a noisy throughput no longer rescales the y axis at every point;
* `RedrawCadence` redraws the loss every other tick and slow-moving plots (learning rate,
  throughput) every fifth: fewer paints, so less CPU for the main thread to win back
  when other processes share the cores.

`twt_gui.style.tune_plot` (applied to every plot) also caches each axis as a pixmap.
"""

from __future__ import annotations

import math
from typing import Any

# plot -> redraw every N ticks (of 100 ms): the loss at 5 Hz, learning rate and throughput
# at 2 Hz, the live validation plots at every tick (they change only at evaluations)
SLOW_PLOTS = {"loss": 2, "lr": 5, "throughput": 5}


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= value (at least 1)."""
    if value <= 1:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    for mantissa in (1, 2, 5, 10):
        if mantissa * scale >= value:
            return float(mantissa * scale)
    return float(10 * scale)  # unreachable; keeps type checkers calm


def nice_bound(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= value, for any positive value (a learning
    rate of 3e-5 gets 5e-5); 1 for 0 or less."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    for mantissa in (1, 2, 5, 10):
        if mantissa * scale >= value * (1 - 1e-12):
            return float(f"{mantissa * scale:.12g}")
    return float(f"{10 * scale:.12g}")  # unreachable


def follow_y(plot: Any, ys: Any, headroom: float = 1.05) -> bool:
    """Show y from 0 (or a nice bound below a negative minimum) to the nice bound above the
    largest value; True when the range changed. Non-finite values are ignored."""
    finite = [float(y) for y in ys if math.isfinite(float(y))]
    if not finite:
        return False
    top, bottom = max(finite), min(finite)
    upper = nice_bound(top * headroom) if top > 0 else 0.0
    lower = 0.0 if bottom >= 0 else -nice_bound(-bottom * headroom)
    if upper <= lower:
        upper = lower + 1.0
    box = plot.getViewBox()
    if box.autoRangeEnabled()[1] is False and box.viewRange()[1] == [lower, upper]:
        return False
    box.enableAutoRange(y=False)
    plot.setYRange(lower, upper, padding=0)
    return True


def follow_x(plot: Any, last_x: float, headroom: float = 1.05) -> bool:
    """Show x from 0 to the nice bound above `last_x`; True when the range changed."""
    box = plot.getViewBox()
    upper = nice_ceiling(last_x * headroom)
    if box.autoRangeEnabled()[0] is False and box.viewRange()[0][1] == upper:
        return False
    box.enableAutoRange(x=False)
    plot.setXRange(0, upper, padding=0)
    return True


class RedrawCadence:
    """Which plots to redraw at a tick: every tick, or every N ticks for slow ones (the
    k-th slow plot in name order is offset by k ticks, so they take turns). With
    `per_tick`, at most that many plots are drawn in one tick (the first in `priority`,
    then the one that waited longest); the others stay ready for the next ticks, so no
    tick pays for several paints at once."""

    def __init__(
        self,
        slow: dict[str, int] | None = None,
        per_tick: int | None = None,
        priority: tuple[str, ...] = ("loss",),
    ):
        self.slow = dict(SLOW_PLOTS if slow is None else slow)
        self.offset = {plot: k for k, plot in enumerate(sorted(self.slow))}
        self.per_tick = per_tick
        self.priority = priority
        self.ticks = 0
        self.pending: set[str] = set()
        self.ready: dict[str, int] = {}  # plot -> tick it became ready (had its turn)

    def tick(self, changed: set[str]) -> set[str]:
        """The plots to redraw now, given those whose data changed since the last tick;
        a skipped slow plot stays pending until its turn."""
        self.ticks += 1
        self.pending |= changed
        for plot in [p for p in self.pending if self.turn(p)]:
            self.pending.discard(plot)
            self.ready.setdefault(plot, self.ticks)
        order = sorted(
            self.ready,
            key=lambda p: (p not in self.priority, self.ready[p], p),
        )
        due = set(order if self.per_tick is None else order[: self.per_tick])
        for plot in due:
            del self.ready[plot]
        return due

    def turn(self, plot: str) -> bool:
        return (self.ticks + self.offset.get(plot, 0)) % self.slow.get(plot, 1) == 0

    def busy(self) -> bool:
        """Whether some plot is waiting or a slow one has its turn at this tick (other
        periodic work can wait a tick, so that its cost does not add to a paint's)."""
        return bool(self.ready) or any(self.turn(plot) for plot in self.slow)

    def flush(self) -> set[str]:
        """Everything pending (a job ended, the user switched runs)."""
        due = self.pending | set(self.ready)
        self.pending, self.ready = set(), {}
        return due
