"""S/N ratios, F quantiles and the Taguchi ANOVA against hand-derived numbers.

The synthetic studies place known S/N effects on array columns: with 2-level contrasts s = ±1
(level 0 -> +1) an effect e on a column gives level means η̄ ± e and SS = N·e², so every number below
is worked out by hand in the comments, never by the code under test.
"""

import csv
import math

import numpy as np
import pytest

from specdiff.experiments import analyze, confirm, f_critical, f_sf, interaction_column, orthogonal_array, snr

L8 = orthogonal_array("L8")


def _s(col: int) -> np.ndarray:
    return np.where(L8[:, col] == 0, 1.0, -1.0)


# ------------------------------------------------------------------------------------------- S/N


def test_snr_hand_values():
    # larger: mean(1/1, 1/4) = 0.625 -> -10 log10 0.625; smaller: mean(1, 9) = 5; nominal: ȳ = 10, s² = 2.
    y = np.array([[1.0, 2.0], [1.0, 3.0], [9.0, 11.0]])
    assert snr(y[:1], "larger")[0] == pytest.approx(2.0411998265592, abs=1e-12)
    assert snr(y[1:2], "smaller")[0] == pytest.approx(-6.9897000433602, abs=1e-12)
    assert snr(y[2:], "nominal")[0] == pytest.approx(16.9897000433602, abs=1e-12)
    # 1-D = one replicate per run: 20 log10(y) and -20 log10(y).
    assert snr([10.0, 100.0], "larger").tolist() == pytest.approx([20.0, 40.0])
    assert snr([10.0, 0.1], "smaller").tolist() == pytest.approx([-20.0, 20.0])
    # smaller-the-better accepts signed responses (deviations): −20 log10 |y|.
    assert snr([-2.0, 0.5], "smaller").tolist() == pytest.approx([-6.0205999132796, 6.0205999132796])


def test_snr_errors_name_the_run():
    with pytest.raises(ValueError, match="run 3.*non-positive"):
        snr([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]], "larger")
    with pytest.raises(ValueError, match="run 2.*non-positive"):
        snr([1.0, -1.0, 2.0], "larger")
    with pytest.raises(ValueError, match="run 2.*non-finite"):
        snr([[1.0, 2.0], [np.nan, 2.0]], "smaller")
    with pytest.raises(ValueError, match="run 1.*non-finite"):
        snr([np.inf, 1.0], "larger")
    with pytest.raises(ValueError, match="at least 2 replicates"):
        snr([1.0, 2.0], "nominal")
    with pytest.raises(ValueError, match="run 2.*s = 0"):
        snr([[1.0, 2.0], [3.0, 3.0]], "nominal")
    with pytest.raises(ValueError, match="run 1.*all responses are 0"):
        snr([[0.0, 0.0]], "smaller")
    with pytest.raises(ValueError, match="valid: larger"):
        snr([1.0], "biggest")


# ---------------------------------------------------------------------------------- F distribution


def test_f_critical_table_values():
    assert f_critical(0.05, 1, 2) == pytest.approx(18.51, abs=0.005)
    assert f_critical(0.05, 1, 4) == pytest.approx(7.71, abs=0.005)
    assert f_critical(0.05, 1, 10) == pytest.approx(4.96, abs=0.005)
    assert f_critical(0.01, 1, 1) == pytest.approx(4052.2, abs=0.1)
    assert f_critical(0.05, 5, 20) == pytest.approx(2.71, abs=0.005)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.25])
def test_f_critical_closed_forms(alpha):
    # F(1, 1) = t_1² (Cauchy): tan²(π(1−α)/2); F(1, 2) = t_2²: 2(1−α)²/(1−(1−α)²);
    # F(2, ν): P(F > x) = (1 + 2x/ν)^(−ν/2), so x = ν/2·(α^(−2/ν) − 1).
    assert f_critical(alpha, 1, 1) == pytest.approx(math.tan(math.pi * (1 - alpha) / 2) ** 2, rel=1e-9)
    assert f_critical(alpha, 1, 2) == pytest.approx(2 * (1 - alpha) ** 2 / (1 - (1 - alpha) ** 2), rel=1e-9)
    for nu in (3, 7, 30):
        x = nu / 2 * (alpha ** (-2 / nu) - 1)
        assert f_critical(alpha, 2, nu) == pytest.approx(x, rel=1e-9)
        assert f_sf(x, 2, nu) == pytest.approx(alpha, rel=1e-9)
    assert f_sf(3.0, 2, 5) == pytest.approx((1 + 6 / 5) ** -2.5, rel=1e-12)


def test_f_sf_edges_and_f_critical_errors():
    # analyze() hands f_sf the F of a zero error variance (inf) and of an undefined F (NaN).
    assert f_sf(math.inf, 1, 3) == 0.0 and f_sf(0.0, 1, 3) == 1.0 and math.isnan(f_sf(math.nan, 1, 3))
    # F(0.10; 3, 6) = 3.29 and F(0.01; 2, 12) = 6.93 (printed tables).
    assert f_critical(0.10, 3, 6) == pytest.approx(3.29, abs=0.005)
    assert f_critical(0.01, 2, 12) == pytest.approx(6.93, abs=0.005)
    with pytest.raises(ValueError, match="alpha"):
        f_critical(1.0, 1, 3)
    with pytest.raises(ValueError, match="degrees of freedom"):
        f_critical(0.05, 1, 0)


# --------------------------------------------------------------------- the key additive L8 study

# A on column 0 (+3 at level 0), B on column 1 (+2 at level 1), C on column 3 (+1 at level 0),
# D on column 6 (+0.5 at level 1); column 2 carries a ±0.25 "noise" pattern, columns 4, 5 nothing.
# Level means: A 23/17, B 18/22, C 21/19, D 19.5/20.5 around η̄ = 20; deltas 6, 4, 2, 1.
# SS = 8·e²: A 72, B 32, C 8, D 2; error = columns 2, 4, 5: SS 8·0.0625 = 0.5 on 3 dof; SS_T = 114.5.
ETA = 20 + 3 * _s(0) - 2 * _s(1) + 1 * _s(3) - 0.5 * _s(6) + 0.25 * _s(2)
LEVELS = L8[:, [0, 1, 3, 6]]
Y = 10 ** (-ETA / 20)  # smaller-the-better with one replicate: η = −20 log10 y


def test_key_study_response_tables_and_ranking():
    r = analyze(LEVELS, Y, "smaller", factors=["A", "B", "C", "D"])
    assert r.snr.tolist() == pytest.approx(ETA.tolist(), abs=1e-12)
    expected = {"A": [23, 17], "B": [18, 22], "C": [21, 19], "D": [19.5, 20.5]}
    for f, means in expected.items():
        assert r.response[f].snr.tolist() == pytest.approx(means, abs=1e-12)
    assert [r.response[f].snr_delta for f in "ABCD"] == pytest.approx([6, 4, 2, 1], abs=1e-12)
    assert [r.response[f].snr_rank for f in "ABCD"] == [1, 2, 3, 4]
    assert r.best_levels == {"A": 0, "B": 1, "C": 0, "D": 1}
    # Mean response per level: the plain average of y over the 4 runs at that level.
    assert r.response["B"].mean[1] == pytest.approx(Y[L8[:, 1] == 1].mean(), rel=1e-12)


def test_key_study_anova_unpooled():
    r = analyze(LEVELS, Y, "smaller", factors=["A", "B", "C", "D"], pool=None)
    rows = {a.name: a for a in r.anova}
    assert [rows[f].dof for f in "ABCD"] == [1, 1, 1, 1]
    assert [rows[f].ss for f in "ABCD"] == pytest.approx([72, 32, 8, 2], abs=1e-9)
    assert (r.error.dof, r.error.ss, r.error.ms) == (3, pytest.approx(0.5, abs=1e-9), pytest.approx(1 / 6, abs=1e-9))
    assert (r.total.dof, r.total.ss) == (7, pytest.approx(114.5, abs=1e-9))
    # F = SS / (1/6): 432, 192, 48, 12.
    assert [rows[f].f for f in "ABCD"] == pytest.approx([432, 192, 48, 12], rel=1e-8)
    # ρ = (SS − 1·V_e)/SS_T; the error takes (0.5 + 4/6)/114.5.
    assert [rows[f].contribution for f in "ABCD"] == pytest.approx(
        [100 * (ss - 1 / 6) / 114.5 for ss in (72, 32, 8, 2)], rel=1e-9
    )
    assert r.error.contribution == pytest.approx(100 * (0.5 + 4 / 6) / 114.5, rel=1e-8)
    assert r.pooled == () and r.notes == ()
    # Optimum over all four factors: 20 + 3 + 2 + 1 + 0.5; n_eff = 8/(1+4); F(0.05;1,3) = 10.128.
    o = r.optimum
    assert o.snr == pytest.approx(26.5, abs=1e-9)
    assert o.n_eff == pytest.approx(1.6)
    assert o.factors_used == ("A", "B", "C", "D")
    half = math.sqrt(10.128 * (1 / 6) / 1.6)
    assert (o.upper - o.snr, o.snr - o.lower) == (pytest.approx(half, rel=1e-4), pytest.approx(half, rel=1e-4))
    # Predicted mean: ȳ + Σ(ȳ_f,best − ȳ) from plain level averages.
    ybar = Y.mean()
    best = [(0, 0), (1, 1), (3, 0), (6, 1)]
    assert o.mean == pytest.approx(ybar + sum(Y[L8[:, c] == lvl].mean() - ybar for c, lvl in best), rel=1e-12)


def test_key_study_anova_pooled_d():
    r = analyze(LEVELS, Y, "smaller", factors=["A", "B", "C", "D"], pool=["D"])
    rows = {a.name: a for a in r.anova}
    assert rows["D"].pooled and math.isnan(rows["D"].f) and math.isnan(rows["D"].contribution)
    # Error: 0.5 + 2 on 4 dof, V_e = 0.625; F = 72/0.625, 32/0.625, 8/0.625.
    assert (r.error.dof, r.error.ss, r.error.ms) == (4, pytest.approx(2.5), pytest.approx(0.625))
    assert [rows[f].f for f in "ABC"] == pytest.approx([115.2, 51.2, 12.8], rel=1e-9)
    assert [rows[f].contribution for f in "ABC"] == pytest.approx(
        [100 * 71.375 / 114.5, 100 * 31.375 / 114.5, 100 * 7.375 / 114.5], rel=1e-9
    )
    assert r.error.contribution == pytest.approx(100 * 4.375 / 114.5, rel=1e-9)
    total = sum(a.contribution for a in r.anova if not a.pooled) + r.error.contribution
    assert total == pytest.approx(100.0)
    # p of F(1, 4) = 12.8: t² with t_4 ; P(|t_4| > 3.5777) = 0.02322 (t table).
    assert rows["C"].p == pytest.approx(0.02322, abs=5e-5)
    # Optimum without D: 26; n_eff = 8/(1+3) = 2; half width sqrt(F(0.05;1,4)·0.625/2), F = 7.7086.
    o = r.optimum
    assert (o.snr, o.n_eff, o.dof_error) == (pytest.approx(26.0), 2.0, 4)
    assert o.upper - o.snr == pytest.approx(math.sqrt(7.7086 * 0.625 / 2), rel=1e-4)
    assert o.levels == {"A": 0, "B": 1, "C": 0}


def test_auto_pool_keeps_error_at_or_below_half_the_dof():
    # Error already has 3 of 7 dof; pooling D would make 4 > 3.5, so nothing is pooled.
    assert analyze(LEVELS, Y, "smaller", pool="auto").pooled == ()


def test_saturated_l8_auto_pool_and_unpooled():
    # All 7 columns assigned, half-effects 4, .1, 3, .3, 2, .2, 1: SS = 8e², SS_T = 8·30.14 = 241.12.
    e = [4, 0.1, 3, 0.3, 2, 0.2, 1]
    eta = 10 + sum(ej * _s(j) for j, ej in enumerate(e))
    y = 10 ** (eta / 20)  # larger-the-better, one replicate: η = 20 log10 y
    names = list("ABCDEFG")
    r = analyze(L8, y, "larger", factors=names, pool=None)
    assert r.error.dof == 0 and r.error.ss == pytest.approx(0, abs=1e-9)
    assert all(math.isnan(a.f) for a in r.anova)
    assert [a.contribution for a in r.anova] == pytest.approx([100 * 8 * x**2 / 241.12 for x in e], rel=1e-9)
    assert r.notes and math.isnan(r.optimum.lower)
    # auto: smallest SS first (B .08, F .32, D .72) while error dof <= 7/2 -> 3 factors pooled.
    r = analyze(L8, y, "larger", factors=names, pool="auto")
    assert r.pooled == ("B", "D", "F")
    assert (r.error.dof, r.error.ss) == (3, pytest.approx(8 * (0.01 + 0.04 + 0.09)))
    assert {a.name: a.f for a in r.anova}["G"] == pytest.approx(8 / (1.12 / 3), rel=1e-9)
    assert r.optimum.snr == pytest.approx(10 + 4 + 3 + 2 + 1)
    assert r.optimum.n_eff == pytest.approx(8 / 5)


def test_l9_three_level_study_with_replicates():
    # A on column 0: +2, 0, −2 -> SS 3·8 = 24; B on column 1: 1.5, .5, −2 -> SS 3·6.5 = 19.5;
    # column 2: .5, −.5, 0 -> error SS 1.5 on 2 + 2 dof (columns 2, 3). SS_T = 45.
    l9 = orthogonal_array("L9")
    eta = 30 + np.array([2, 0, -2])[l9[:, 0]] + np.array([1.5, 0.5, -2])[l9[:, 1]] + np.array([0.5, -0.5, 0])[l9[:, 2]]
    base = 10 ** (eta / 20)
    y = np.stack([base, 2 * base], axis=1)  # adds −10 log10((1 + 1/4)/2) = 2.0412 dB to every run
    r = analyze(l9[:, :2], y, "larger", factors=["A", "B"])
    offset = -10 * math.log10(0.625)
    assert r.snr.tolist() == pytest.approx((eta + offset).tolist(), abs=1e-9)
    a, b = r.anova
    assert (a.dof, a.ss, b.dof, b.ss) == (2, pytest.approx(24), 2, pytest.approx(19.5))
    assert (r.error.dof, r.error.ss, r.error.ms) == (4, pytest.approx(1.5), pytest.approx(0.375))
    assert (a.f, b.f) == (pytest.approx(12 / 0.375), pytest.approx(9.75 / 0.375))
    assert a.contribution == pytest.approx(100 * (24 - 2 * 0.375) / 45)
    assert r.best_levels == {"A": 0, "B": 0}
    assert r.optimum.snr == pytest.approx(30 + offset + 2 + 1.5)
    assert r.optimum.n_eff == pytest.approx(9 / 5)
    assert r.response["A"].mean.tolist() == pytest.approx([y[l9[:, 0] == k].mean() for k in range(3)])


def test_dummy_level_factor_ss():
    # 2-level factor on a 3-level column read 0, 1, 0: 6 runs at +1, 3 at −2, so η̄ = 10 and
    # SS = 6·1² + 3·2² = 18 = SS_T.
    l9 = orthogonal_array("L9")
    lv = np.stack([l9[:, 0] % 2, l9[:, 1]], axis=1)
    eta = 10 + np.where(lv[:, 0] == 0, 1.0, -2.0)
    r = analyze(lv, 10 ** (eta / 20), "larger")
    assert r.anova[0].ss == pytest.approx(18) and r.anova[0].dof == 1
    assert r.anova[1].ss == pytest.approx(0, abs=1e-9)
    assert r.total.ss == pytest.approx(18) and r.error.dof == 5


def test_interaction_on_l8_detected_on_its_column():
    # η = 10 + 1·s_A + 0.5·s_C + 2·s_A·s_B + 0.1·s_col4, with the A×B term on column 2 (= col 0 XOR col 1).
    ab = interaction_column("L8", 0, 1)
    assert ab == 2 and np.array_equal(_s(0) * _s(1), _s(ab))
    eta = 10 + _s(0) + 0.5 * _s(3) + 2 * _s(0) * _s(1) + 0.1 * _s(4)
    y = 10 ** (eta / 20)
    r = analyze(L8[:, [0, 1, ab, 3]], y, "larger", factors=["A", "B", "AxB", "C"])
    ss = {a.name: a.ss for a in r.anova}
    assert ss == {
        "A": pytest.approx(8),
        "B": pytest.approx(0, abs=1e-9),
        "AxB": pytest.approx(32),
        "C": pytest.approx(2),
    }
    assert r.response["AxB"].snr_rank == 1
    assert r.error.ss == pytest.approx(0.08) and r.error.dof == 3
    # Cell means: A=0,B=0: 10+1+2; A=0,B=1: 10+1−2; A=1,B=0: 10−1−2; A=1,B=1: 10−1+2.
    assert r.interaction_table("A", "B").tolist() == [pytest.approx([13, 9]), pytest.approx([7, 11])]
    # Left out of the model, the interaction lands in the error.
    r2 = analyze(L8[:, [0, 1, 3]], y, "larger", factors=["A", "B", "C"])
    assert r2.error.ss == pytest.approx(32.08)


def test_confirm_intervals():
    r = analyze(LEVELS, Y, "smaller", factors=["A", "B", "C", "D"], pool=["D"])
    # Prediction 26 ± sqrt(7.7086·0.625/2) = ±1.5521; confirmation ± sqrt(7.7086·0.625·(1/2 + 1)) = ±2.6883.
    c = confirm(r, snr_db=27.8)
    assert (c.inside, c.inside_mean_interval) == (True, False)
    assert c.upper - c.predicted == pytest.approx(math.sqrt(7.7086 * 0.625 * 1.5), rel=1e-4)
    assert not confirm(r, snr_db=28.8).inside
    assert confirm(r, snr_db=23.4).inside and not confirm(r, snr_db=23.2).inside
    # Two confirmation runs: 1/r = 1/2 narrows the interval to sqrt(7.7086·0.625·1).
    c2 = confirm(r, snr_db=[25.0, 27.0])
    assert c2.snr == 26.0 and c2.upper - 26.0 == pytest.approx(math.sqrt(7.7086 * 0.625), rel=1e-4)
    # Responses: smaller-the-better y = 10^(−26/20) has η = 26.
    assert confirm(r, y=[10 ** (-26 / 20)]).snr == pytest.approx(26.0)
    with pytest.raises(ValueError, match="exactly one"):
        confirm(r)


def test_reports(tmp_path):
    r = analyze(LEVELS, Y, "smaller", factors=["A", "B", "C", "D"], pool=["D"])
    runs = r.to_rows("runs")
    assert len(runs) == 8 and list(runs[0]) == ["run", "A", "B", "C", "D", "y1", "mean", "snr_db"]
    assert runs[4]["A"] == 1 and runs[4]["snr_db"] == pytest.approx(ETA[4])
    anova = r.to_rows("anova")
    assert [row["source"] for row in anova] == ["A", "B", "C", "D", "error", "total"]
    paths = r.write_csv(tmp_path)
    with open(paths[1]) as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[0]["F"]) == pytest.approx(115.2)
    md = r.to_markdown()
    assert "| D (pooled) | 1 | 2 | 2 | — | — | — |" in md and "η = 26.000 dB" in md and "smaller-the-better" in md
    assert len(r.to_rows("response")) == 8


def test_analyze_input_errors():
    with pytest.raises(ValueError, match="'A'.*'B'.*not orthogonal"):
        analyze(np.array([[0, 0], [0, 0], [1, 1], [1, 1]]), [1.0, 2, 3, 4], "larger")
    with pytest.raises(ValueError, match="unknown factor"):
        analyze(LEVELS, Y, "smaller", pool=["Z"])
    with pytest.raises(ValueError, match="runs"):
        analyze(LEVELS, Y[:7], "smaller")
    with pytest.raises(ValueError, match="run 6.*non-positive"):
        analyze(LEVELS, np.where(np.arange(8) == 5, -1.0, 1.0), "larger")
