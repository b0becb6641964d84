"""Taguchi robust-design studies: orthogonal arrays, S/N ratios, ANOVA, optimum prediction, plots.

Levels are 0-based integers and array columns 0-based indices everywhere (textbook column 1 = column 0).
"""

from .analysis import (
    GOALS,
    Analysis,
    AnovaRow,
    Confirmation,
    Prediction,
    ResponseTable,
    analyze,
    confirm,
    f_critical,
    f_sf,
    snr,
)
from .arrays import (
    ARRAYS,
    canonical_name,
    check_orthogonal,
    column_levels,
    describe,
    design,
    interaction_column,
    interaction_columns,
    load_array_csv,
    orthogonal_array,
    select_array,
)
from .runner import RunTask, analyze_study, run_study
from .study import Factor, Response, Study, StudyError, load_study

__all__ = [
    "ARRAYS",
    "GOALS",
    "Analysis",
    "AnovaRow",
    "Confirmation",
    "Prediction",
    "Factor",
    "Response",
    "ResponseTable",
    "RunTask",
    "Study",
    "StudyError",
    "analyze",
    "analyze_study",
    "canonical_name",
    "check_orthogonal",
    "column_levels",
    "confirm",
    "describe",
    "design",
    "f_critical",
    "f_sf",
    "interaction_column",
    "interaction_columns",
    "load_array_csv",
    "load_study",
    "orthogonal_array",
    "run_study",
    "select_array",
    "snr",
]
