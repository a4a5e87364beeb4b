"""Light and dark styles: Fusion palette plus a small style sheet (twt_gui/resources/style)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from twt_gui.assets import asset

THEMES = ("light", "dark")
# The problems banner above the pages, by severity (see twt_gui.problems).
BANNER_STYLE = {
    "light": """
QFrame#problemsBanner[severity="error"] { background: #fdecea; border-bottom: 1px solid #f3c0bc; }
QFrame#problemsBanner[severity="warning"] { background: #fff5db; border-bottom: 1px solid #f0d99a; }
QFrame#problemsBanner[severity="info"] { background: #e8f0fe; border-bottom: 1px solid #c2d6f8; }
""",
    "dark": """
QFrame#problemsBanner[severity="error"] { background: #3d2325; border-bottom: 1px solid #6b3236; }
QFrame#problemsBanner[severity="warning"] { background: #3a3220; border-bottom: 1px solid #6a5a2c; }
QFrame#problemsBanner[severity="info"] { background: #1f2c44; border-bottom: 1px solid #33507e; }
""",
}


def _palette(theme: str) -> QPalette:
    palette = QPalette()
    if theme == "light":
        return QApplication.style().standardPalette()
    colors = {
        QPalette.ColorRole.Window: "#1f2228",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#17191d",
        QPalette.ColorRole.AlternateBase: "#23262d",
        QPalette.ColorRole.ToolTipBase: "#2b2f37",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#2b2f37",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.Highlight: "#3d7bd9",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: "#8a8f98",
        QPalette.ColorRole.Link: "#6ea8fe",
    }
    for role, color in colors.items():
        palette.setColor(role, QColor(color))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6b7079"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b7079"))
    return palette


def apply_theme(app: QApplication, theme: str) -> None:
    if theme not in THEMES:
        theme = "light"
    app.setStyle("Fusion")
    app.setPalette(_palette(theme))
    base = asset("style", f"{theme}.qss").read_text(encoding="utf-8")
    app.setStyleSheet(base + BANNER_STYLE[theme])
    app.setProperty("twt_theme", theme)


def plot_colors(theme: str) -> tuple[str, str]:
    """Background and foreground for pyqtgraph plots."""
    return ("#17191d", "#d0d0d0") if theme == "dark" else ("#ffffff", "#333333")


def style_plots(root: QWidget, theme: str) -> None:
    """Give every pyqtgraph plot under `root` the theme's background and foreground."""
    import pyqtgraph as pg

    background, foreground = plot_colors(theme)
    pg.setConfigOptions(background=background, foreground=foreground)
    for plot in root.findChildren(pg.PlotWidget):
        plot.setBackground(background)
        item = plot.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
        item.titleLabel.setText(item.titleLabel.text, color=foreground)
        tune_plot(plot)


def tune_plot(plot: QWidget) -> None:
    """Cheaper repaints of a live plot: most paints only move the curve (the view range is
    updated in a second paint), so cache each axis as a pixmap instead of replaying its
    text-heavy picture every time; keep the item-level flags that skip unneeded work."""
    import pyqtgraph as pg

    item = plot.getPlotItem()  # type: ignore[attr-defined]
    for name in ("left", "bottom"):
        item.getAxis(name).setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
    item.setClipToView(True)
    item.setDownsampling(auto=True, mode="peak")
