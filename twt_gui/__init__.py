"""TwT Studio desktop app (PySide6 + qasync + pyqtgraph). Only UI and light async I/O here."""
