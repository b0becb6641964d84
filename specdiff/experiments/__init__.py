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

__all__ = [
    "ARRAYS",
    "GOALS",
    "Analysis",
    "AnovaRow",
    "Confirmation",
    "Prediction",
    "ResponseTable",
    "analyze",
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
    "orthogonal_array",
    "select_array",
    "snr",
]
