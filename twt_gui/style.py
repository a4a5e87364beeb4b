"""Light and dark styles: Fusion palette plus a small style sheet from resources/style."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

STYLE_DIR = Path(__file__).resolve().parents[1] / "resources" / "style"
THEMES = ("light", "dark")


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
    sheet = STYLE_DIR / f"{theme}.qss"
    app.setStyleSheet(sheet.read_text(encoding="utf-8") if sheet.exists() else "")
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
