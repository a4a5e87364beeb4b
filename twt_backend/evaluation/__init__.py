"""Evaluation: student inference, scoring, the code sandbox and reports.

Kept import-light: each submodule imports its own heavy dependencies.
"""
