"""Figures and a Markdown summary for a results folder (``specdiff report RESULTS_DIR``)."""

from specdiff.report.results import ResultsError, load_results
from specdiff.report.summary import build_report

__all__ = ["ResultsError", "build_report", "load_results"]
