"""Declared, validated dataset options: each family lists its keywords with a default and a check, so the
config layer can reject unknown or out-of-range ``data.options`` before any data is touched."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from specdiff.errors import InvalidValue


@dataclass(frozen=True)
class Option:
    """One keyword option: its default, what it allows (for error messages) and a check that returns the
    normalized value (lists become tuples) or raises ValueError/TypeError."""

    default: Any
    allowed: str
    check: Callable[[Any], Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(lo: float, hi: float, *, integer: bool = False, open_lo: bool = False) -> tuple[str, Callable]:
    """A number in [lo, hi] (or (lo, hi] with ``open_lo``); ``integer`` asks for an int."""
    kind = "an integer" if integer else "a number"
    allowed = f"{kind} in {'(' if open_lo else '['}{lo}, {hi}]"

    def check(value: Any) -> Any:
        if not _is_number(value) or (integer and not isinstance(value, int)):
            raise TypeError(value)
        if not (lo < value if open_lo else lo <= value) or not value <= hi:
            raise ValueError(value)
        return int(value) if integer else float(value)

    return allowed, check


def choice(values: tuple[str, ...]) -> tuple[str, Callable]:
    """One of ``values``."""

    def check(value: Any) -> Any:
        if value not in values:
            raise ValueError(value)
        return value

    return f"one of {', '.join(values)}", check


def subset(values: tuple, *, what: str = "") -> tuple[str, Callable]:
    """A non-empty list of distinct elements of ``values`` (a single element is accepted as a list of one)."""

    def check(value: Any) -> tuple:
        items = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        if not items or len(set(items)) != len(items) or any(item not in values for item in items):
            raise ValueError(value)
        return items

    return f"a non-empty list of distinct {what or 'values'} from {', '.join(map(str, values))}", check


def option(default: Any, spec: tuple[str, Callable]) -> Option:
    allowed, check = spec
    return Option(default, allowed, check)


def suggestion(name: str, valid: tuple[str, ...] | list[str]) -> str:
    """'; did you mean 'x'?' for the closest valid name, or ''."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def resolve(dataset: str, specs: Mapping[str, Option], given: Mapping[str, Any]) -> dict[str, Any]:
    """The options of ``dataset`` with defaults filled in and values normalized. An unknown keyword raises
    InvalidValue naming the valid ones; a bad value raises InvalidValue naming the key, the value and what is
    allowed."""
    for key in given:
        if key not in specs:
            valid = ", ".join(specs) or "none"
            raise InvalidValue(
                f"unknown option {key!r} for dataset {dataset!r}{suggestion(str(key), tuple(specs))} "
                f"(valid options: {valid})"
            )
    resolved = {}
    for key, spec in specs.items():
        if key not in given or (given[key] is None and spec.default is None):
            resolved[key] = spec.default
            continue
        try:
            resolved[key] = spec.check(given[key])
        except (TypeError, ValueError):
            raise InvalidValue(
                f"dataset {dataset!r}: option {key}={given[key]!r} is invalid; expected {spec.allowed}"
            ) from None
    return resolved
