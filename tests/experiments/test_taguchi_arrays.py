"""Orthogonal arrays: sizes, strength-2 orthogonality, textbook order, pyDOE's tables, CSV, selection, interactions."""

import itertools
from collections import Counter

import numpy as np
import pytest

from specdiff.experiments import (
    ARRAYS,
    check_orthogonal,
    design,
    interaction_column,
    interaction_columns,
    load_array_csv,
    orthogonal_array,
    select_array,
)

# (runs, levels of each column) as printed in Taguchi's tables.
SIZES = {
    "L4": (4, [2] * 3),
    "L8": (8, [2] * 7),
    "L9": (9, [3] * 4),
    "L12": (12, [2] * 11),
    "L16": (16, [2] * 15),
    "L16b": (16, [4] * 5),
    "L18": (18, [2] + [3] * 7),
    "L27": (27, [3] * 13),
}


def _textbook(rows: str) -> np.ndarray:
    """A table printed 1-based, one run per line, as 0-based levels."""
    return np.array([[int(c) - 1 for c in line.split()] for line in rows.strip().splitlines()])


def test_every_builtin_is_listed():
    assert set(ARRAYS) == set(SIZES)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_size_and_strength_two(name):
    arr = orthogonal_array(name)
    runs, levels = SIZES[name]
    assert arr.shape == (runs, len(levels))
    assert np.issubdtype(arr.dtype, np.integer)
    for j, k in enumerate(levels):
        assert sorted(set(arr[:, j].tolist())) == list(range(k))
    # Independent count: every level pair of every column pair occurs runs / (k_i k_j) times.
    for i, j in itertools.combinations(range(arr.shape[1]), 2):
        pairs = Counter(zip(arr[:, i].tolist(), arr[:, j].tolist(), strict=True))
        expected = runs // (levels[i] * levels[j])
        assert len(pairs) == levels[i] * levels[j], (name, i, j)
        assert set(pairs.values()) == {expected}, (name, i, j)
    # Distinct runs (no repeated row) and the validator agrees.
    assert len({tuple(r) for r in arr.tolist()}) == runs
    check_orthogonal(arr)


def test_textbook_l4_l8_l9_l16b_tables():
    assert np.array_equal(orthogonal_array("L4"), _textbook("1 1 1\n1 2 2\n2 1 2\n2 2 1"))
    l8 = """
    1 1 1 1 1 1 1
    1 1 1 2 2 2 2
    1 2 2 1 1 2 2
    1 2 2 2 2 1 1
    2 1 2 1 2 1 2
    2 1 2 2 1 2 1
    2 2 1 1 2 2 1
    2 2 1 2 1 1 2
    """
    assert np.array_equal(orthogonal_array("L8"), _textbook(l8))
    l9 = "1 1 1 1\n1 2 2 2\n1 3 3 3\n2 1 2 3\n2 2 3 1\n2 3 1 2\n3 1 3 2\n3 2 1 3\n3 3 2 1"
    assert np.array_equal(orthogonal_array("L9"), _textbook(l9))
    l16b = """
    1 1 1 1 1
    1 2 2 2 2
    1 3 3 3 3
    1 4 4 4 4
    2 1 2 3 4
    2 2 1 4 3
    2 3 4 1 2
    2 4 3 2 1
    3 1 3 4 2
    3 2 4 3 1
    3 3 1 2 4
    3 4 2 1 3
    4 1 4 2 3
    4 2 3 1 4
    4 3 2 4 1
    4 4 1 3 2
    """
    assert np.array_equal(orthogonal_array("L16(4^5)"), _textbook(l16b))


def test_textbook_spot_checks_l16_l27_l12_l18():
    l16 = orthogonal_array("L16")
    assert l16[:, 0].tolist() == [0] * 8 + [1] * 8
    assert l16[:, 1].tolist() == ([0] * 4 + [1] * 4) * 2
    assert l16[:, 3].tolist() == [0, 0, 1, 1] * 4
    assert l16[:, 7].tolist() == [0, 1] * 8
    assert l16[1].tolist() == [0] * 7 + [1] * 8  # textbook run 2: 1111111 22222222
    l27 = orthogonal_array("L27")
    assert l27[:, 0].tolist() == [0] * 9 + [1] * 9 + [2] * 9
    assert l27[:, 4].tolist() == [0, 1, 2] * 9  # textbook column 5 is the third basic column
    assert (l27[12] + 1).tolist() == [2, 2, 3, 1, 1, 2, 3, 2, 3, 1, 3, 1, 2]  # run 13
    assert (l27[26] + 1).tolist() == [3, 3, 2, 1, 3, 2, 1, 2, 1, 3, 1, 3, 2]  # run 27
    l12 = orthogonal_array("L12")
    assert (l12[1] + 1).tolist() == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert (l12[11] + 1).tolist() == [2, 2, 1, 1, 2, 1, 2, 1, 2, 2, 1]
    l18 = orthogonal_array("L18")
    assert (l18[3] + 1).tolist() == [1, 2, 1, 1, 2, 2, 3, 3]
    assert (l18[17] + 1).tolist() == [2, 3, 3, 2, 1, 2, 3, 1]


def _pair_signature(arr: np.ndarray) -> list[tuple]:
    """Per column: its number of levels and the sorted level-pair counts against every other column."""
    ks = [int(col.max()) + 1 for col in arr.T]
    return [
        (
            ks[i],
            tuple(
                sorted(
                    tuple(sorted(Counter(zip(arr[:, i].tolist(), arr[:, j].tolist(), strict=True)).values()))
                    for j in range(arr.shape[1])
                    if j != i
                )
            ),
        )
        for i in range(arr.shape[1])
    ]


def isomorphic(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `b` is `a` with its runs reordered, its columns reordered and each column's levels relabelled.

    Depth-first search: the columns of `b` are matched in turn to unused columns of `a` (same pair signature)
    under every level relabelling, keeping the multiset of partial runs equal. Once those partial runs of `b`
    are all distinct the run correspondence is fixed, and each remaining column of `b` must be an unused
    column of `a` up to a bijection of levels.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    n, c = a.shape
    sig_a, sig_b = _pair_signature(a), _pair_signature(b)
    if sorted(sig_a) != sorted(sig_b):
        return False
    b_rows = [tuple(r) for r in b.tolist()]

    def finish(cols: list[np.ndarray], used: frozenset[int]) -> bool:
        index = {r[: len(cols)]: i for i, r in enumerate(b_rows)}
        a_in_b_order = np.empty_like(a)
        a_in_b_order[[index[tuple(r)] for r in np.column_stack(cols).tolist()]] = a
        free = [i for i in range(c) if i not in used]
        for j in range(len(cols), c):
            for i in free:
                pairs = set(zip(a_in_b_order[:, i].tolist(), b[:, j].tolist(), strict=True))
                if sig_a[i] == sig_b[j] and len(pairs) == len({p for p, _ in pairs}) == len({q for _, q in pairs}):
                    free.remove(i)  # any other unused match is the same column up to relabelling
                    break
            else:
                return False
        return True

    def search(cols: list[np.ndarray], used: frozenset[int]) -> bool:
        j = len(cols)
        if j == c:  # every column matched while runs still repeat
            return True
        target = Counter(r[: j + 1] for r in b_rows)
        for i in range(c):
            if i in used or sig_a[i] != sig_b[j]:
                continue
            for relabel in itertools.permutations(range(sig_b[j][0])):
                col = np.array(relabel)[a[:, i]]
                if Counter(map(tuple, np.column_stack([*cols, col]).tolist())) != target:
                    continue
                done = finish if len(target) == n else search
                if done([*cols, col], used | {i}):
                    return True
        return False

    return search([], frozenset())


def _scrambled(arr: np.ndarray, seed: int) -> np.ndarray:
    """`arr` with runs and columns permuted and every column's levels relabelled at random."""
    rng = np.random.default_rng(seed)
    out = arr[rng.permutation(arr.shape[0])][:, rng.permutation(arr.shape[1])]
    return np.stack([rng.permutation(int(col.max()) + 1)[col] for col in out.T], axis=1)


def _swap_two_levels(arr: np.ndarray, col: int) -> np.ndarray:
    """`arr` with two runs' levels swapped in one column: the column stays balanced, the array breaks."""
    out = arr.copy()
    j = int(np.flatnonzero(out[:, col] != out[0, col])[0])
    out[[0, j], col] = out[[j, 0], col]
    return out


@pytest.fixture(scope="module")
def pydoe_arrays():
    return pytest.importorskip("pydoe.taguchi").ORTHOGONAL_ARRAYS


def test_isomorphic_accepts_scrambled_and_rejects_altered_arrays():
    for name in ("L8", "L9", "L16", "L16b", "L18", "L27"):
        arr = orthogonal_array(name)
        assert isomorphic(arr, _scrambled(arr, seed=len(name)))
        assert not isomorphic(arr, _swap_two_levels(arr, col=2))
    l16 = orthogonal_array("L16")
    # Both are strength-2 OA(16, 2^4) with equal pair counts, but columns 0, 1, 2 are dependent (2 = 0 + 1)
    # and 0, 1, 3, 7 are the full 2^4 factorial: only the search over runs tells them apart.
    assert _pair_signature(l16[:, [0, 1, 2, 3]]) == _pair_signature(l16[:, [0, 1, 3, 7]])
    assert not isomorphic(l16[:, [0, 1, 2, 3]], l16[:, [0, 1, 3, 7]])
    assert isomorphic(l16[:, [0, 1, 2, 3]], _scrambled(l16[:, [3, 2, 1, 0]], seed=1))  # runs repeat in both


@pytest.mark.parametrize(
    "name, pydoe_name",
    [
        ("L4", "L4(2^3)"),
        ("L8", "L8(2^7)"),
        ("L9", "L9(3^4)"),
        ("L12", "L12(2^11)"),
        ("L16", "L16(2^15)"),
        ("L16b", "L16(4^5)"),
        # pyDOE 1.6.0 names this table L27(2^1 3^12), but all 13 of its columns have 3 levels: it is L27(3^13).
        ("L27", "L27(2^1 3^12)"),
    ],
)
def test_builtin_arrays_match_pydoe(pydoe_arrays, name, pydoe_name):
    theirs = np.asarray(pydoe_arrays[pydoe_name])
    assert sorted(int(col.max()) + 1 for col in theirs.T) == sorted(SIZES[name][1])
    assert isomorphic(orthogonal_array(name), theirs)


def test_l18_matches_pydoe_l18_6_3_and_the_printed_table(pydoe_arrays):
    # pyDOE has the mixed L18(6^1 3^6), not Taguchi's L18(2^1 3^7). The 2-level column 1 and 3-level column 2
    # of the printed table are crossed (all 6 level pairs, 3 runs each), and read as one 6-level factor they
    # give L18(6^1 3^6): the other six 3-level columns are orthogonal to that pair.
    l18 = orthogonal_array("L18")
    merged = np.column_stack([3 * l18[:, 0] + l18[:, 1], l18[:, 2:]])
    assert isomorphic(merged, np.asarray(pydoe_arrays["L18(6^1 3^6)"]))
    check_orthogonal(l18)
    assert (l18[:3] + 1).tolist() == [[1] * 8, [1, 1] + [2] * 6, [1, 1] + [3] * 6]


def test_l27_printed_first_runs():
    assert (orthogonal_array("L27")[:3] + 1).tolist() == [[1] * 13, [1] * 4 + [2] * 9, [1] * 4 + [3] * 9]


def test_names_aliases_and_copies():
    assert np.array_equal(orthogonal_array("L16_4"), orthogonal_array("L16b"))
    assert np.array_equal(orthogonal_array("l18(2^1 3^7)"), orthogonal_array("L18"))
    assert np.array_equal(orthogonal_array("L8(2^7)"), orthogonal_array("L8"))
    a = orthogonal_array("L4")
    a[0, 0] = 1
    assert orthogonal_array("L4")[0, 0] == 0
    with pytest.raises(ValueError, match="L27"):
        orthogonal_array("L5")


def test_csv_roundtrip_one_based_with_header(tmp_path):
    path = tmp_path / "l9.csv"
    path.write_text("A,B,C,D\n" + "\n".join(",".join(str(v + 1) for v in r) for r in orthogonal_array("L9")))
    assert np.array_equal(load_array_csv(path), orthogonal_array("L9"))
    path0 = tmp_path / "l4.csv"
    path0.write_text("0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    assert np.array_equal(load_array_csv(path0), orthogonal_array("L4"))


def test_csv_rejects_non_orthogonal_pair_by_name(tmp_path):
    path = tmp_path / "bad.csv"
    # Every column balanced, but speed and temp are confounded (identical).
    path.write_text("speed,temp,time\n1,1,1\n1,1,2\n2,2,1\n2,2,2\n")
    with pytest.raises(ValueError, match="'speed'.*'temp'.*not orthogonal"):
        load_array_csv(path)
    unbalanced = tmp_path / "unbalanced.csv"
    unbalanced.write_text("1,1\n1,2\n1,1\n2,2\n")
    with pytest.raises(ValueError, match="column 0 is not balanced"):
        load_array_csv(unbalanced)
    ragged = tmp_path / "text.csv"
    ragged.write_text("a,b\n1,x\n")
    with pytest.raises(ValueError, match="integers"):
        load_array_csv(ragged)


@pytest.mark.parametrize(
    "levels, name, columns",
    [
        ([2, 2, 2], "L4", [0, 1, 2]),
        ([2, 2, 2, 2], "L8", [0, 1, 3, 6]),  # basic columns 1, 2, 4, 7: interactions stay free
        ([2] * 7, "L8", [0, 1, 3, 6, 2, 4, 5]),
        ([2] * 8, "L12", list(range(8))),
        ([2] * 12, "L16", [0, 1, 3, 7, 14, 2, 4, 5, 6, 8, 9, 10]),
        ([3, 3, 3, 3], "L9", [0, 1, 2, 3]),
        ([3] * 5, "L18", [1, 2, 3, 4, 5]),
        ([2, 3, 3], "L18", [0, 1, 2]),
        ([3, 2], "L18", [1, 0]),
        ([3] * 8, "L27", [0, 1, 4, 8, 2, 3, 5, 6]),
        ([4, 4, 4], "L16b", [0, 1, 2]),
        ([2, 2, 3], "L9", [1, 2, 0]),  # dummy levels: no exact fit exists
    ],
)
def test_select_array(levels, name, columns):
    assert select_array(levels) == (name, columns)


def test_select_array_rejects():
    with pytest.raises(ValueError, match="levels"):
        select_array([5, 2])
    with pytest.raises(ValueError, match="no built-in"):
        select_array([3] * 14)


def test_dummy_level_design_is_proportionally_orthogonal():
    name, cols = select_array([2, 2, 3])
    d = design(name, cols, [2, 2, 3])
    assert np.bincount(d[:, 0]).tolist() == [6, 3]
    assert np.array_equal(d[:, 2], orthogonal_array("L9")[:, 0])
    check_orthogonal(d, proportional=True)
    with pytest.raises(ValueError, match="balanced"):
        check_orthogonal(d)


def test_l8_triangular_table_textbook_values():
    # 1-based textbook entries: 1x2=3, 1x4=5, 2x4=6, 3x4=7, 1x6=7, 2x5=7, 3x5=6, 1x7=6, 2x7=5, 4x7=3.
    for a, b, c in [
        (1, 2, 3),
        (1, 4, 5),
        (2, 4, 6),
        (3, 4, 7),
        (1, 6, 7),
        (2, 5, 7),
        (3, 5, 6),
        (1, 7, 6),
        (2, 7, 5),
        (4, 7, 3),
    ]:
        assert interaction_column("L8", a - 1, b - 1) == c - 1
        assert interaction_column("L8", b - 1, a - 1) == c - 1


@pytest.mark.parametrize("name", ["L4", "L8", "L16"])
def test_two_level_interaction_column_is_xor(name):
    arr = orthogonal_array(name)
    for a, b in itertools.combinations(range(arr.shape[1]), 2):
        c = interaction_column(name, a, b)
        assert c not in (a, b)
        assert np.array_equal(arr[:, c], arr[:, a] ^ arr[:, b])


@pytest.mark.parametrize(
    "name, expected",
    [
        ("L9", {(0, 1): (2, 3)}),
        ("L27", {(0, 1): (2, 3), (0, 4): (5, 6), (1, 4): (7, 10)}),
        ("L16b", {(0, 1): (2, 3, 4)}),
    ],
)
def test_multilevel_interaction_columns(name, expected):
    arr = orthogonal_array(name)
    for (a, b), cols in expected.items():
        assert interaction_columns(name, a, b) == cols
    for a, b in itertools.combinations(range(arr.shape[1]), 2):
        for c in interaction_columns(name, a, b):
            # An interaction column is a function of the (a, b) level pair ...
            cell = {}
            for la, lb, lc in zip(arr[:, a], arr[:, b], arr[:, c], strict=True):
                assert cell.setdefault((la, lb), lc) == lc
            # ... but of neither column alone (it is orthogonal to both).
            assert c not in (a, b)


def test_interaction_errors():
    with pytest.raises(ValueError, match="interaction_columns"):
        interaction_column("L9", 0, 1)
    with pytest.raises(ValueError, match="no interaction columns"):
        interaction_columns("L12", 0, 1)
    with pytest.raises(ValueError, match="out of range"):
        interaction_column("L8", 0, 7)
