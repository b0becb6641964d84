"""Fixtures of the report tests."""

import pytest
from reportutil import make_results_dir

from specdiff.report import build_report


@pytest.fixture
def results_dir(tmp_path):
    return make_results_dir(str(tmp_path / "results"))


@pytest.fixture(scope="module")
def built_report(tmp_path_factory):
    """``(results_dir, summary.md path)`` of the full synthetic folder, built once per module (figures are slow)."""
    root = make_results_dir(str(tmp_path_factory.mktemp("built") / "results"))
    return root, build_report(root)
