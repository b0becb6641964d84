"""Standard Taguchi orthogonal arrays, custom arrays from CSV, array selection and interaction columns.

Conventions (the whole `specdiff.experiments` API):
- An array is an integer `np.ndarray[runs, columns]` with levels 0..k-1 (textbooks print 1..k).
- Column indices are 0-based: column 0 is the textbook's column 1, so the textbook rule "the interaction
  of columns 1 and 2 of L8 is column 3" reads `interaction_column("L8", 0, 1) == 2`.

Construction (Taguchi, *System of Experimental Design*, 1987; Phadke, *Quality Engineering Using Robust
Design*, 1989, appendix C): L4, L8, L16 are the GF(2) linear arrays, L9, L27 the GF(3) ones and L16(4^5)
the GF(4) one, with rows and columns ordered like the printed tables; L12 and L18 are written out.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

ARRAYS: tuple[str, ...] = ("L4", "L8", "L9", "L12", "L16", "L16b", "L18", "L27")
"""Canonical names of the built-in arrays. "L16b" is L16(4^5); "L16_4" and "L16(4^5)" name it too."""

_DESCRIPTIONS = {
    "L4": "L4(2^3)",
    "L8": "L8(2^7)",
    "L9": "L9(3^4)",
    "L12": "L12(2^11)",
    "L16": "L16(2^15)",
    "L16b": "L16(4^5)",
    "L18": "L18(2^1 3^7)",
    "L27": "L27(3^13)",
}

_ALIASES = {"L16_4": "L16b", "L16B": "L16b"}

# (q, k) of the linear arrays: q^k runs over GF(q).
_LINEAR = {"L4": (2, 2), "L8": (2, 3), "L16": (2, 4), "L9": (3, 2), "L27": (3, 3), "L16b": (4, 2)}

# Phadke (1989) table C.6 / Taguchi L12 (a Plackett-Burman design), 1-based as printed.
_L12 = """
11111111111
11111222222
11222111222
12122122112
12212212121
12221221211
21221122121
21212221112
21122212211
22211112212
22121211122
22112121221
"""

# Taguchi L18(2^1 3^7), 1-based as printed.
_L18 = """
11111111
11222222
11333333
12112233
12223311
12331122
13121323
13232131
13313212
21133221
21211332
21322113
22123132
22231213
22312321
23132312
23213123
23321231
"""


def _table(text: str) -> np.ndarray:
    return np.array([[int(c) - 1 for c in line] for line in text.split()], dtype=np.int64)


def _gf4_mul(a: int, b: int) -> int:
    # GF(4) = {0, 1, α, α²} coded 0, 1, 2, 3 with α² = α + 1; addition is XOR.
    if a == 0 or b == 0:
        return 0
    log = {1: 0, 2: 1, 3: 2}
    return [1, 2, 3][(log[a] + log[b]) % 3]


def _field(q: int):
    """(add, mul) of GF(q) on the codes 0..q-1."""
    if q == 4:
        return (lambda a, b: a ^ b), _gf4_mul
    return (lambda a, b: (a + b) % q), (lambda a, b: (a * b) % q)


def _generators(q: int, k: int) -> list[tuple[int, ...]]:
    # Reversing a product tuple makes the first coordinate count fastest.
    gens = []
    for m in range(k):
        for v in itertools.product(range(q), repeat=m):
            gens.append(tuple(reversed(v)) + (1,) + (0,) * (k - m - 1))
    return gens


def _linear_array(q: int, k: int) -> np.ndarray:
    """The q^k-run linear array over GF(q) (q prime or 4) in the order of Taguchi's printed tables.

    Run r has digits (x_1..x_k) in base q, x_1 most significant. Column generators are grouped by their
    last non-zero basis element e_m: e_m + v for v over span(e_1..e_{m-1}) counted with e_1 fastest.
    That reproduces L4, L8, L16 (columns 1, 2, 4, 8 basic), L9 and L27 (columns 1, 2, 5 basic), and
    L16(4^5) (columns b + a·{0, 1, α, α²} after a) exactly.
    """
    add, mul = _field(q)
    runs = list(itertools.product(range(q), repeat=k))
    generators = _generators(q, k)
    out = np.empty((len(runs), len(generators)), dtype=np.int64)
    for i, x in enumerate(runs):
        for j, g in enumerate(generators):
            value = 0
            for xi, gi in zip(x, g, strict=True):
                value = add(value, mul(xi, gi))
            out[i, j] = value
    return out


@cache
def _builtin(name: str) -> np.ndarray:
    if name == "L12":
        arr = _table(_L12)
    elif name == "L18":
        arr = _table(_L18)
    else:
        arr = _linear_array(*_LINEAR[name])
    arr.setflags(write=False)
    return arr


def canonical_name(name: str) -> str:
    """Canonical array name for "L8", "l8", "L8(2^7)", "L16(4^5)", "L16_4", "L18(2^1 3^7)", ..."""
    key = re.sub(r"\s+", "", str(name))
    for canon, desc in _DESCRIPTIONS.items():
        if key.upper() in (canon.upper(), desc.replace(" ", "").upper(), desc.replace(" ", "x").upper()):
            return canon
    if key.upper() in _ALIASES:
        return _ALIASES[key.upper()]
    valid = ", ".join(f"{n} = {_DESCRIPTIONS[n]}" for n in ARRAYS)
    raise ValueError(f"unknown orthogonal array {name!r}; valid names: {valid} (also 'L16_4' for L16(4^5))")


def orthogonal_array(name: str) -> np.ndarray:
    """The built-in array `name` as a new `int64[runs, columns]` array with levels 0..k-1."""
    return _builtin(canonical_name(name)).copy()


def describe(name: str) -> str:
    """Textbook notation of a built-in array, e.g. "L18(2^1 3^7)"."""
    return _DESCRIPTIONS[canonical_name(name)]


def column_levels(array: np.ndarray) -> list[int]:
    """Number of levels of each column (max level + 1)."""
    return [int(c.max()) + 1 for c in np.asarray(array).T]


def check_orthogonal(array: np.ndarray, names: Sequence[str] | None = None, *, proportional: bool = False) -> None:
    """Raise ValueError unless `array` is an orthogonal array of strength 2.

    Every column must use each of its levels 0..k-1 equally often, and every pair of columns must show
    every level pair equally often (N / (k_i k_j) times). With `proportional=True` the weaker condition
    of Addelman's orthogonal main-effect plans is checked instead: every level occurs, and every pair
    occurs n_i·n_j / N times (what dummy-level columns satisfy; the ANOVA decomposition still holds).
    The error names the offending column(s), 0-based, with `names` when given.
    """
    arr = np.asarray(array)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"an orthogonal array must be 2-D with at least 2 runs and 1 column, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError("array levels must be integers")
    n, c = arr.shape

    def label(j: int) -> str:
        return f"column {j} ({names[j]!r})" if names is not None else f"column {j}"

    counts = []
    for j in range(c):
        col = arr[:, j]
        if col.min() < 0:
            raise ValueError(f"{label(j)} has a negative level")
        k = int(col.max()) + 1
        cnt = np.bincount(col, minlength=k)
        balanced = np.all(cnt > 0) if proportional else (n % k == 0 and np.all(cnt == n // k))
        if k < 2 or not balanced:
            raise ValueError(f"{label(j)} is not balanced: level counts {cnt.tolist()} (levels 0..{k - 1})")
        counts.append(cnt)
    for i, j in itertools.combinations(range(c), 2):
        ki, kj = len(counts[i]), len(counts[j])
        pair = np.bincount(arr[:, i] * kj + arr[:, j], minlength=ki * kj).reshape(ki, kj)
        if not np.array_equal(pair * n, np.outer(counts[i], counts[j])):
            raise ValueError(
                f"{label(i)} and {label(j)} are not orthogonal: level pairs do not occur "
                f"{'in proportion' if proportional else 'equally often'} (counts {pair.tolist()})"
            )


def load_array_csv(path: str | Path) -> np.ndarray:
    """Load a custom orthogonal array from CSV: one row per run, one column per factor column.

    An optional non-numeric header row names the columns (used in error messages). Levels may be 0-based
    or 1-based as printed in textbooks (an array whose smallest level is 1 is shifted to 0-based). The
    array is validated with `check_orthogonal`; ValueError names the offending column pair.
    """
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    if not rows:
        raise ValueError(f"{path}: empty CSV")
    names = None
    try:
        [int(cell) for cell in rows[0]]
    except ValueError:
        names, rows = [cell.strip() for cell in rows[0]], rows[1:]
    try:
        arr = np.array([[int(cell) for cell in r] for r in rows], dtype=np.int64)
    except ValueError as exc:
        raise ValueError(f"{path}: levels must be integers ({exc})") from None
    if arr.ndim != 2 or (names is not None and arr.shape[1] != len(names)):
        raise ValueError(f"{path}: every row must have the same number of columns")
    if arr.size and arr.min() == 1:
        arr = arr - 1
    try:
        check_orthogonal(arr, names)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return arr


# Preferred column order when factors are assigned automatically: basic columns first, so that the
# two-factor interactions of the first factors fall on free columns (L8 0,1,3,6 is resolution IV for 4
# factors; L16 0,1,3,7,14 resolution V for 5; L27 0,1,4,8 resolution IV for 4).
_PREFERRED = {
    "L8": (0, 1, 3, 6, 2, 4, 5),
    "L16": (0, 1, 3, 7, 14, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13),
    "L27": (0, 1, 4, 8, 2, 3, 5, 6, 7, 9, 10, 11, 12),
}


def preferred_columns(name: str) -> tuple[int, ...]:
    """The column order in which factors are assigned to array ``name``: its basic columns first."""
    return _PREFERRED.get(name, tuple(range(orthogonal_array(name).shape[1])))


def select_array(levels_per_factor: Sequence[int]) -> tuple[str, list[int]]:
    """Smallest built-in array that fits the factors, and the 0-based column given to each factor.

    Rule: the built-in arrays are tried in order of run count (L4, L8, L9, L12, L16, L16b, L18, L27).
    1. Exact fit: the first array with, for each factor, a distinct column with exactly that factor's
       number of levels. All-2-level designs get L4/L8/L12/L16 (up to 3/7/11/15 factors), all-3-level
       L9/L18/L27 (up to 4/7/13), all-4-level L16b (up to 5), and one 2-level factor with up to seven
       3-level factors L18 (the 2-level factor on column 0).
    2. Otherwise, dummy levels: the first array where each factor gets a distinct column with at least
       its number of levels (exact-level columns first); `design` folds the extra levels back
       (e.g. [2, 2, 3] -> L9 with the 2-level factors on 3-level columns read as 0, 1, 0).
    Within an array factors take the basic columns first (`_PREFERRED`), leaving interaction columns
    free. ValueError when nothing fits (more factors than any array has columns, or levels above 4).
    """
    want = [int(k) for k in levels_per_factor]
    if not want:
        raise ValueError("select_array needs at least one factor")
    if any(k not in (2, 3, 4) for k in want):
        raise ValueError(f"built-in arrays have 2-, 3- or 4-level columns only; got levels {want}")
    by_runs = sorted(ARRAYS, key=lambda n: (_builtin(n).shape[0], ARRAYS.index(n)))
    for dummy in (False, True):
        for name in by_runs:
            assignment = _assign(name, want, dummy)
            if assignment is not None:
                return name, assignment
    raise ValueError(
        f"no built-in orthogonal array fits factors with levels {want}; use a custom array (load_array_csv)"
    )


def _assign(name: str, want: list[int], dummy: bool) -> list[int] | None:
    ks = column_levels(_builtin(name))
    order = preferred_columns(name)
    free = list(order)
    assignment = [-1] * len(want)
    # Exact-level columns first, then (dummy) the factors with most levels take the smallest columns left.
    for i, k in enumerate(want):
        col = next((j for j in free if ks[j] == k), None)
        if col is not None:
            free.remove(col)
            assignment[i] = col
    for i in sorted(range(len(want)), key=lambda i: -want[i]):
        if assignment[i] >= 0:
            continue
        if not dummy:
            return None
        fits = [j for j in free if ks[j] > want[i]]
        if not fits:
            return None
        col = min(fits, key=lambda j: (ks[j], free.index(j)))
        free.remove(col)
        assignment[i] = col
    return assignment


def design(name_or_array: str | np.ndarray, columns: Sequence[int], levels_per_factor: Sequence[int]) -> np.ndarray:
    """Factor levels per run (`int64[runs, factors]`) for factors assigned to `columns` of an array.

    A factor with fewer levels than its column gets dummy levels: column level j is read as j mod k
    (a 3-level column for a 2-level factor runs 0, 1, 0), which keeps the plan orthogonal in Addelman's
    proportional-frequency sense.
    """
    arr = orthogonal_array(name_or_array) if isinstance(name_or_array, str) else np.asarray(name_or_array)
    if len(columns) != len(levels_per_factor):
        raise ValueError("one column per factor is needed")
    if len(set(columns)) != len(columns):
        raise ValueError(f"two factors share a column: {list(columns)}")
    ks = column_levels(arr)
    out = np.empty((arr.shape[0], len(columns)), dtype=np.int64)
    for i, (c, k) in enumerate(zip(columns, levels_per_factor, strict=True)):
        if not 0 <= c < arr.shape[1]:
            raise ValueError(f"column {c} out of range (0..{arr.shape[1] - 1})")
        if k > ks[c]:
            raise ValueError(f"factor {i} has {k} levels but column {c} only {ks[c]}")
        out[:, i] = arr[:, c] % k
    return out


def interaction_columns(name: str, a: int, b: int) -> tuple[int, ...]:
    """0-based columns that carry the interaction of columns `a` and `b` of a linear array.

    Two-level arrays (L4, L8, L16): one column, the textbook triangular table (1-based: column i x j is
    column i XOR j). Three-level arrays (L9, L27): two columns (generators u+v and u+2v); L16(4^5): three.
    L12 and L18 spread interactions over several columns (no clean interaction column): ValueError.
    """
    canon = canonical_name(name)
    if canon in ("L12", "L18"):
        raise ValueError(f"{describe(canon)} has no interaction columns: interactions are spread over columns")
    q, k = _LINEAR[canon]
    gens = _generators(q, k)
    ncol = len(gens)
    for c in (a, b):
        if not 0 <= int(c) < ncol:
            raise ValueError(f"column {c} out of range for {describe(canon)} (0..{ncol - 1})")
    if a == b:
        raise ValueError("an interaction needs two different columns")
    add, mul = _field(q)
    inv = {x: next(y for y in range(1, q) if mul(x, y) == 1) for x in range(1, q)}
    out = []
    for c in range(1, q):
        g = tuple(add(x, mul(c, y)) for x, y in zip(gens[a], gens[b], strict=True))
        lead = next(x for x in reversed(g) if x)  # normalise: last non-zero coordinate 1
        g = tuple(mul(x, inv[lead]) for x in g)
        out.append(gens.index(g))
    return tuple(sorted(out))


def interaction_column(name: str, a: int, b: int) -> int:
    """0-based column of a two-level array (L4, L8, L16) that carries the interaction of columns a and b.

    `interaction_column("L8", 0, 1) == 2`, `(0, 3) -> 4`, `(1, 3) -> 5`, `(2, 3) -> 6`: textbook 1x2 = 3,
    1x4 = 5, 2x4 = 6, 3x4 = 7. For 3- and 4-level arrays use `interaction_columns`.
    """
    cols = interaction_columns(name, a, b)
    if len(cols) != 1:
        raise ValueError(
            f"{describe(name)} carries an interaction on {len(cols)} columns {cols}; use interaction_columns"
        )
    return cols[0]
