"""Numbers and Markdown tables for every summary specdiff writes (report, Taguchi studies, demo).

A missing value (``None``, NaN, or an empty CSV cell) prints as :data:`MISSING` everywhere.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

MISSING = "—"


def is_missing(value: Any) -> bool:
    """``None``, NaN or an empty string: a value that was not measured or does not apply."""
    if value is None or (isinstance(value, str) and value == ""):
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and math.isnan(value)


def format_number(value: Any, spec: str = ".4g") -> str:
    """``format(value, spec)``, or :data:`MISSING` for a missing value."""
    return MISSING if is_missing(value) else format(value, spec)


def cell(value: Any) -> str:
    """One Markdown table cell: floats with 4 significant digits, missing values as :data:`MISSING`, text with
    ``|`` escaped and newlines joined, so a cell never breaks its row."""
    if is_missing(value):
        return MISSING
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return format_number(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The lines of a Markdown table; every header and row entry goes through :func:`cell`."""
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
