"""Statistics of a Taguchi robust-design study: S/N ratios, response tables, ANOVA, optimum, confirmation.

References: Taguchi, *System of Experimental Design* (1987); Phadke, *Quality Engineering Using Robust
Design* (1989), ch. 3-5; Ross, *Taguchi Techniques for Quality Engineering* (1996), ch. 5-6 (pooling,
percent contribution ρ, effective number of replications n_eff and the confidence intervals).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from specdiff.errors import InvalidValue
from specdiff.report.tables import format_number, markdown_table

from .arrays import check_orthogonal

Goal = Literal["larger", "smaller", "nominal"]
GOALS: tuple[str, ...] = ("larger", "smaller", "nominal")

_SNR_FORMULA = {
    "larger": "η = −10·log10(mean(1/y²))",
    "smaller": "η = −10·log10(mean(y²))",
    "nominal": "η = 10·log10(ȳ²/s²), s with ddof=1",
}


# ----------------------------------------------------------------------------------------------- S/N


def snr(y: np.ndarray | Sequence[float], goal: Goal) -> np.ndarray:
    """Signal-to-noise ratio in dB of each run (row) of `y` (runs × replicates; 1-D = one replicate).

    larger-the-better  η = −10 log10(mean(1/y²))   (every y > 0)
    smaller-the-better η = −10 log10(mean(y²))     (not all y = 0)
    nominal-the-best   η = 10 log10(ȳ² / s²)       (≥ 2 replicates, s > 0, ȳ ≠ 0; s has ddof=1)
    Offending runs raise InvalidValue (a ValueError) naming the run (1-based, as in the printed tables); nothing is
    dropped. S/N is always larger-is-better whatever the goal.
    """
    if goal not in GOALS:
        raise ValueError(f"unknown S/N goal {goal!r}; valid: {', '.join(GOALS)}")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(f"responses must be runs × replicates, got shape {y.shape}")
    bad = ~np.isfinite(y).all(axis=1)
    if bad.any():
        raise InvalidValue(f"{_runs(bad)} non-finite response (NaN or inf): {y[np.argmax(bad)].tolist()}")
    if goal == "larger":
        bad = (y <= 0).any(axis=1)
        if bad.any():
            raise InvalidValue(
                f"{_runs(bad)} non-positive response for larger-the-better "
                f"(1/y² undefined): {y[np.argmax(bad)].tolist()}"
            )
        return -10.0 * np.log10(np.mean(1.0 / y**2, axis=1))
    if goal == "smaller":
        bad = (y == 0).all(axis=1)
        if bad.any():
            raise InvalidValue(f"{_runs(bad)} all responses are 0: smaller-the-better S/N is +inf")
        return -10.0 * np.log10(np.mean(y**2, axis=1))
    if y.shape[1] < 2:
        raise InvalidValue("nominal-the-best S/N needs at least 2 replicates per run (s uses ddof=1)")
    mean = y.mean(axis=1)
    s2 = y.var(axis=1, ddof=1)
    bad = s2 == 0
    if bad.any():
        raise InvalidValue(f"{_runs(bad)} replicates are identical (s = 0): nominal-the-best S/N is +inf")
    bad = mean == 0
    if bad.any():
        raise InvalidValue(f"{_runs(bad)} mean response is 0: nominal-the-best S/N is -inf")
    return 10.0 * np.log10(mean**2 / s2)


def _runs(mask: np.ndarray) -> str:
    idx = (np.flatnonzero(mask) + 1).tolist()
    return f"run {idx[0]}:" if len(idx) == 1 else f"runs {idx}: run {idx[0]} has a"


# ------------------------------------------------------------------------------------ F distribution


def f_sf(x: float, dfn: float, dfd: float) -> float:
    """Upper tail P(F > x) of the F(dfn, dfd) distribution (the p-value of an ANOVA F), by `scipy.stats.f`."""
    from scipy.stats import f

    return float(f.sf(x, dfn, dfd))


def f_critical(alpha: float, dfn: float, dfd: float) -> float:
    """Upper-α point F(α; dfn, dfd): P(F > x) = α, by `scipy.stats.f`."""
    from scipy.stats import f

    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if dfn <= 0 or dfd <= 0:
        raise ValueError(f"degrees of freedom must be positive, got ({dfn}, {dfd})")
    return float(f.isf(alpha, dfn, dfd))


# --------------------------------------------------------------------------------------- the results


@dataclass(frozen=True)
class ResponseTable:
    """Mean response and mean S/N per level of one factor; delta = max − min, rank 1 = largest delta."""

    factor: str
    counts: np.ndarray
    mean: np.ndarray
    snr: np.ndarray
    mean_delta: float
    snr_delta: float
    mean_rank: int
    snr_rank: int
    best_level: int


@dataclass(frozen=True)
class AnovaRow:
    """One source of variation of the ANOVA on the S/N. Pooled rows carry NaN F, p and contribution."""

    name: str
    dof: int
    ss: float
    ms: float
    f: float
    p: float
    contribution: float
    pooled: bool = False


@dataclass(frozen=True)
class Prediction:
    """Predicted S/N at the best levels, η_opt ± sqrt(F(α;1,dof_e)·V_e/n_eff), and the predicted mean."""

    snr: float
    lower: float
    upper: float
    alpha: float
    n_eff: float
    factors_used: tuple[str, ...]
    levels: dict[str, int]
    mean: float
    dof_error: int
    var_error: float


@dataclass(frozen=True)
class Confirmation:
    """A confirmation experiment against the prediction (the confirmation interval of Ross 1996, ch. 6)."""

    snr: float
    runs: int
    predicted: float
    lower: float
    upper: float
    inside: bool
    inside_mean_interval: bool


@dataclass(frozen=True)
class Analysis:
    goal: str
    factors: tuple[str, ...]
    levels: np.ndarray
    y: np.ndarray
    snr: np.ndarray
    mean: np.ndarray
    response: dict[str, ResponseTable]
    anova: list[AnovaRow]
    error: AnovaRow
    total: AnovaRow
    best_levels: dict[str, int]
    optimum: Prediction
    pooled: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    def interaction_table(self, a: str, b: str) -> np.ndarray:
        """Mean S/N of each level combination of factors a (rows) and b (columns)."""
        ia, ib = self._index(a), self._index(b)
        ka, kb = len(self.response[a].snr), len(self.response[b].snr)
        out = np.full((ka, kb), np.nan)
        for i in range(ka):
            for j in range(kb):
                sel = (self.levels[:, ia] == i) & (self.levels[:, ib] == j)
                if sel.any():
                    out[i, j] = self.snr[sel].mean()
        return out

    def _index(self, name: str) -> int:
        if name not in self.factors:
            raise ValueError(f"unknown factor {name!r}; factors: {', '.join(self.factors)}")
        return self.factors.index(name)

    # Tables for taguchi_report.csv, anova.csv and response.csv.
    def to_rows(self, table: Literal["runs", "anova", "response"] = "runs") -> list[dict[str, object]]:
        """Rows for `taguchi_report.csv` ("runs": levels, replicates, mean, S/N per run), `anova.csv`
        ("anova": factors, error, total) or `response.csv` ("response": mean and S/N per factor level)."""
        if table == "runs":
            rows = []
            for r in range(len(self.snr)):
                row: dict[str, object] = {"run": r + 1}
                row.update({f: int(self.levels[r, i]) for i, f in enumerate(self.factors)})
                row.update({f"y{j + 1}": float(v) for j, v in enumerate(self.y[r])})
                row.update({"mean": float(self.mean[r]), "snr_db": float(self.snr[r])})
                rows.append(row)
            return rows
        if table == "anova":
            return [
                {
                    "source": a.name,
                    "dof": a.dof,
                    "ss": a.ss,
                    "ms": a.ms,
                    "F": a.f,
                    "p": a.p,
                    "contribution_pct": a.contribution,
                    "pooled": a.pooled,
                }
                for a in [*self.anova, self.error, self.total]
            ]
        if table == "response":
            return [
                {
                    "factor": t.factor,
                    "level": lvl,
                    "n": int(t.counts[lvl]),
                    "mean": float(t.mean[lvl]),
                    "snr_db": float(t.snr[lvl]),
                    "mean_delta": t.mean_delta,
                    "snr_delta": t.snr_delta,
                    "snr_rank": t.snr_rank,
                    "best": lvl == t.best_level,
                }
                for t in self.response.values()
                for lvl in range(len(t.snr))
            ]
        raise ValueError(f"unknown table {table!r}; valid: runs, anova, response")

    def write_csv(self, directory: str | Path) -> list[str]:
        """Write taguchi_report.csv, anova.csv and response.csv into `directory`; return their paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for table, fname in (("runs", "taguchi_report.csv"), ("anova", "anova.csv"), ("response", "response.csv")):
            rows = self.to_rows(table)  # type: ignore[arg-type]
            path = directory / fname
            with open(path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            paths.append(str(path))
        return paths

    def to_markdown(self) -> str:
        """Markdown summary: S/N definition, response table, ANOVA, best levels and predicted optimum."""
        n, r = self.y.shape
        kmax = max(len(t.snr) for t in self.response.values())
        lines = [
            "## Taguchi analysis",
            "",
            f"{n} runs × {r} replicate(s), {self.goal}-the-better: {_SNR_FORMULA[self.goal]} (dB).",
            "",
            "### Response table (mean S/N per level, dB)",
            "",
        ]
        tables = list(self.response.values())
        levels = [[lvl, *[format_number(t.snr[lvl], ".3f") if lvl < len(t.snr) else None for t in tables]]
                  for lvl in range(kmax)]
        levels.append(["delta", *[format_number(t.snr_delta, ".3f") for t in tables]])
        levels.append(["rank", *[t.snr_rank for t in tables]])
        lines += markdown_table(["level", *self.factors], levels)
        lines += ["", "### ANOVA on S/N", ""]
        lines += markdown_table(
            ["source", "dof", "SS", "MS", "F", "p", "ρ (%)"],
            [[f"{a.name} (pooled)" if a.pooled else a.name, a.dof, a.ss, a.ms, a.f, a.p, a.contribution]
             for a in [*self.anova, self.error, self.total]],
        )
        o = self.optimum
        best = ", ".join(f"{f}={lvl}" for f, lvl in self.best_levels.items())
        lines += [
            "",
            f"Best levels (max S/N): {best}.",
            "",
            f"Predicted optimum over {', '.join(o.factors_used) or 'no factors'}: η = {o.snr:.3f} dB, "
            f"{100 * (1 - o.alpha):.0f}% interval [{format_number(o.lower, '.3f')}, {format_number(o.upper, '.3f')}] "
            f"(n_eff = {o.n_eff:.3g}, error dof = {o.dof_error}); predicted mean response {o.mean:.4g}.",
        ]
        if self.notes:
            lines += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- analysis


def _default_names(n: int) -> list[str]:
    return [chr(ord("A") + i) if i < 26 else f"F{i + 1}" for i in range(n)]


def _auto_pool(ss: Sequence[float], dof: Sequence[int], dof_residual: int, dof_total: int) -> list[int]:
    """Taguchi's "pool up to about half the degrees of freedom" rule (Ross 1996, ch. 6).

    Factors are taken in order of increasing SS and pooled while the error dof (residual + pooled)
    stays ≤ dof_total / 2; the first factor that would exceed it stops the pooling, and at least one
    factor always stays unpooled.
    """
    pooled: list[int] = []
    e_dof = dof_residual
    for i in sorted(range(len(ss)), key=lambda i: (ss[i], i)):
        if len(pooled) + 1 >= len(ss) or e_dof + dof[i] > dof_total / 2:
            break
        pooled.append(i)
        e_dof += dof[i]
    return pooled


def analyze(
    levels: np.ndarray | Sequence[Sequence[int]],
    y: np.ndarray | Sequence[float],
    goal: Goal,
    factors: Sequence[str] | None = None,
    pool: Sequence[str] | Literal["auto"] | None = None,
    alpha: float = 0.05,
    predict: Sequence[str] | None = None,
) -> Analysis:
    """Taguchi analysis of an orthogonal-array experiment.

    levels  int[runs, factors], levels 0..k-1 of each factor in each run (columns of an orthogonal array;
            an interaction column may be passed as a factor of its own, e.g. "AxB").
    y       responses, [runs] or [runs, replicates].
    goal    "larger" | "smaller" | "nominal" (the S/N, see `snr`).
    pool    None (no pooling), a list of factor names, or "auto" (see `_auto_pool`).
    predict factors used in the predicted optimum; default: every factor that is not pooled.

    The ANOVA is on the S/N, one value per run: SS_T = Σ(η − η̄)², SS_f = Σ_l n_l (η̄_l − η̄)², dof
    k − 1; the error is the residual SS_T − Σ SS_f (unassigned columns) plus the pooled factors.
    F = MS_f / V_e; ρ_f = (SS_f − dof_f·V_e) / SS_T and the error takes the rest of 100 %.
    With no error dof, F is NaN and ρ_f = SS_f / SS_T (noted in `Analysis.notes`).
    """
    lv = np.asarray(levels)
    if lv.ndim == 1:
        lv = lv[:, None]
    if lv.ndim != 2:
        raise ValueError(f"levels must be runs × factors, got shape {lv.shape}")
    if not np.issubdtype(lv.dtype, np.integer):
        if not (np.isfinite(lv).all() and np.all(lv == np.round(lv))):
            raise ValueError("levels must be integers 0..k-1")
        lv = lv.astype(np.int64)
    lv = lv.astype(np.int64)
    yy = np.asarray(y, dtype=np.float64)
    if yy.ndim == 1:
        yy = yy[:, None]
    n, nf = lv.shape
    if yy.ndim != 2 or yy.shape[0] != n:
        raise ValueError(f"responses have {yy.shape[0] if yy.ndim else 0} runs but levels have {n}")
    names = list(factors) if factors is not None else _default_names(nf)
    if len(names) != nf:
        raise ValueError(f"{len(names)} factor names for {nf} level columns")
    if len(set(names)) != nf:
        raise ValueError(f"factor names must be unique: {names}")
    check_orthogonal(lv, names, proportional=True)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")

    eta = snr(yy, goal)
    run_mean = yy.mean(axis=1)
    grand, grand_mean = float(eta.mean()), float(run_mean.mean())
    notes: list[str] = []

    # Response tables.
    tables = {}
    for i, f in enumerate(names):
        k = int(lv[:, i].max()) + 1
        counts = np.bincount(lv[:, i], minlength=k)
        m = np.array([run_mean[lv[:, i] == lvl].mean() for lvl in range(k)])
        s = np.array([eta[lv[:, i] == lvl].mean() for lvl in range(k)])
        tables[f] = (counts, m, s)
    snr_delta = [float(s.max() - s.min()) for _, _, s in tables.values()]
    mean_delta = [float(m.max() - m.min()) for _, m, _ in tables.values()]
    snr_rank = _ranks(snr_delta)
    mean_rank = _ranks(mean_delta)
    response = {
        f: ResponseTable(
            factor=f,
            counts=counts,
            mean=m,
            snr=s,
            mean_delta=mean_delta[i],
            snr_delta=snr_delta[i],
            mean_rank=mean_rank[i],
            snr_rank=snr_rank[i],
            best_level=int(np.argmax(s)),
        )
        for i, (f, (counts, m, s)) in enumerate(tables.items())
    }
    best_levels = {f: t.best_level for f, t in response.items()}

    # ANOVA on the S/N.
    ss_total = float(np.sum((eta - grand) ** 2))
    dof_total = n - 1
    ss = [float(np.sum(counts * (s - grand) ** 2)) for counts, _, s in tables.values()]
    dof = [len(s) - 1 for _, _, s in tables.values()]
    dof_residual = dof_total - sum(dof)
    if dof_residual < 0:
        raise ValueError(f"{sum(dof)} factor degrees of freedom exceed the {dof_total} of {n} runs")
    # Orthogonality makes the factor SS add up; the residual is the unassigned columns' SS.
    ss_residual = max(ss_total - sum(ss), 0.0)

    if pool is None:
        pooled_idx: list[int] = []
    elif isinstance(pool, str):
        if pool != "auto":
            raise ValueError(f"pool must be None, 'auto' or a list of factor names, got {pool!r}")
        pooled_idx = _auto_pool(ss, dof, dof_residual, dof_total)
    else:
        unknown = [p for p in pool if p not in names]
        if unknown:
            raise ValueError(f"cannot pool unknown factor(s) {unknown}; factors: {names}")
        pooled_idx = [names.index(p) for p in pool]
        if len(pooled_idx) == nf:
            raise InvalidValue("cannot pool every factor")
    pooled = tuple(names[i] for i in sorted(pooled_idx))

    e_ss = ss_residual + sum(ss[i] for i in pooled_idx)
    e_dof = dof_residual + sum(dof[i] for i in pooled_idx)
    v_e = e_ss / e_dof if e_dof > 0 else math.nan
    if e_dof == 0:
        notes.append(
            "No error degrees of freedom (saturated design, nothing pooled): F is undefined (NaN) and "
            "ρ = SS_f/SS_T is not corrected; pool small factors to test significance."
        )
    elif v_e == 0:
        notes.append("Error variance is 0 (the S/N is exactly additive): F is infinite.")
    if ss_total == 0:
        notes.append("All runs have the same S/N: contributions are undefined (NaN).")

    rows = []
    for i, f in enumerate(names):
        ms = ss[i] / dof[i]
        if i in pooled_idx:
            rows.append(AnovaRow(f, dof[i], ss[i], ms, math.nan, math.nan, math.nan, pooled=True))
            continue
        if e_dof == 0:
            fval = math.nan
            rho = ss[i] / ss_total if ss_total > 0 else math.nan
        else:
            fval = ms / v_e if v_e > 0 else (math.inf if ms > 0 else math.nan)
            rho = (ss[i] - dof[i] * v_e) / ss_total if ss_total > 0 else math.nan
        p = f_sf(fval, dof[i], e_dof) if e_dof > 0 else math.nan
        rows.append(AnovaRow(f, dof[i], ss[i], ms, fval, p, 100.0 * rho))
    rho_error = 100.0 - sum(r.contribution for r in rows if not r.pooled) if ss_total > 0 else math.nan
    error = AnovaRow("error", e_dof, e_ss, v_e, math.nan, math.nan, rho_error, pooled=bool(pooled_idx))
    total = AnovaRow(
        "total", dof_total, ss_total, ss_total / dof_total, math.nan, math.nan, 100.0 if ss_total > 0 else math.nan
    )

    # Predicted optimum (additive model) and its interval (Ross 1996, ch. 6; n_eff after Taguchi).
    if predict is None:
        used = [f for f in names if f not in pooled]
    else:
        used = list(predict)
        unknown = [f for f in used if f not in names]
        if unknown:
            raise ValueError(f"cannot predict with unknown factor(s) {unknown}; factors: {names}")
    eta_opt = grand + sum(response[f].snr[best_levels[f]] - grand for f in used)
    mean_opt = grand_mean + sum(response[f].mean[best_levels[f]] - grand_mean for f in used)
    n_eff = n / (1 + sum(dof[names.index(f)] for f in used))
    half = math.sqrt(f_critical(alpha, 1, e_dof) * v_e / n_eff) if e_dof > 0 else math.nan
    if e_dof == 0:
        notes.append("The interval of the predicted optimum needs error degrees of freedom: it is NaN.")
    optimum = Prediction(
        snr=float(eta_opt),
        lower=float(eta_opt - half),
        upper=float(eta_opt + half),
        alpha=alpha,
        n_eff=n_eff,
        factors_used=tuple(used),
        levels={f: best_levels[f] for f in used},
        mean=float(mean_opt),
        dof_error=e_dof,
        var_error=v_e,
    )
    for arr in (lv, yy, eta, run_mean):
        arr.setflags(write=False)
    return Analysis(
        goal=goal,
        factors=tuple(names),
        levels=lv,
        y=yy,
        snr=eta,
        mean=run_mean,
        response=response,
        anova=rows,
        error=error,
        total=total,
        best_levels=best_levels,
        optimum=optimum,
        pooled=pooled,
        notes=tuple(notes),
    )


def _ranks(delta: Sequence[float]) -> list[int]:
    order = sorted(range(len(delta)), key=lambda i: (-delta[i], i))
    ranks = [0] * len(delta)
    for r, i in enumerate(order):
        ranks[i] = r + 1
    return ranks


def confirm(
    analysis: Analysis,
    *,
    snr_db: float | Sequence[float] | None = None,
    y: np.ndarray | Sequence[float] | None = None,
) -> Confirmation:
    """Check a confirmation experiment at the predicted best levels against the prediction.

    Give either its S/N value(s) `snr_db` (one per confirmation run) or its responses `y`
    (runs × replicates, S/N computed with the analysis goal; 1-D = the replicates of one run). With r
    confirmation S/N values of mean η_c, the confirmation interval is
    η_opt ± sqrt(F(α;1,dof_e)·V_e·(1/n_eff + 1/r)) (Ross 1996, ch. 6), wider than the interval of
    the mean prediction; `inside` uses it and `inside_mean_interval` the narrower one.
    """
    if (snr_db is None) == (y is None):
        raise ValueError("give exactly one of snr_db or y")
    if y is not None:
        yy = np.asarray(y, dtype=np.float64)
        values = snr(yy[None, :] if yy.ndim == 1 else yy, analysis.goal)  # type: ignore[arg-type]
    else:
        values = np.atleast_1d(np.asarray(snr_db, dtype=np.float64))
        if not np.isfinite(values).all():
            raise InvalidValue(f"confirmation S/N must be finite, got {values.tolist()}")
    o = analysis.optimum
    r = len(values)
    eta_c = float(values.mean())
    if o.dof_error > 0:
        half = math.sqrt(f_critical(o.alpha, 1, o.dof_error) * o.var_error * (1.0 / o.n_eff + 1.0 / r))
    else:
        half = math.nan
    lower, upper = o.snr - half, o.snr + half
    return Confirmation(
        snr=eta_c,
        runs=r,
        predicted=o.snr,
        lower=lower,
        upper=upper,
        inside=bool(lower <= eta_c <= upper),
        inside_mean_interval=bool(o.lower <= eta_c <= o.upper),
    )
