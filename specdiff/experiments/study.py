"""Taguchi study files: factors mapped onto config keys, the array design, seeds, and every run's config.

A study file (YAML)::

    name: spectral_l8                  # default: the file name without suffix
    description: one line for the report
    base: ../smoke/tiny_unet.yaml      # base config: a path (relative to the study file) or an inline mapping
    set:                               # optional overrides of the base, dotted key -> value
      training.steps: 300
    array: L8                          # optional; default: the smallest built-in array that fits
    factors:                           # control factors, in order
      model:
        key: model                     # a dotted config key; a mapping level replaces the whole (sub-)mapping
        levels:
          - {name: tiny_unet, base_channels: 8}
          - {name: spectral_unet, base_channels: 4}
        labels: [tiny_unet, spectral_unet]   # optional names of the levels (default: name field or value)
        column: 0                      # optional 0-based array column (default: assigned)
      lr: {key: optim.lr, levels: [1.0e-3, 3.0e-3]}
    interactions: [[model, lr]]        # optional: reserve the interaction column (2-level arrays L4, L8, L16)
    noise:                             # optional noise factors: crossed in full with the seeds (outer array)
      alpha: {key: data.options.alpha, levels: [1.5, 2.5]}
    replicates: 2                      # seeds per noise condition (default 1)
    seed: 0                            # replicate k: training.seed = sampling.seed = seed + k
    response:
      metric: spectral_distance_db     # a training metric (final_loss, ...) or a sample metric (see METRICS)
      goal: smaller                    # larger | smaller | nominal
      num_reference: 256               # sample metrics: images of the data's test split to compare with
    pool: auto                         # auto (default) | none | [factor, ...]
    alpha: 0.05                        # level of the optimum's interval

Seeds: replicate k of every row uses seed ``seed + k`` for ``training.seed`` (weights, noise draws, data order)
and ``sampling.seed`` (sampler noise), the same across rows and noise conditions, so rows are compared under
common random numbers and a row difference is the factors', not the seeds'.

Keys are applied shallowest first (a ``loss`` mapping level, then a ``loss.weighting`` factor on top of it), so a
section-level factor and a finer factor combine. Every row's config is built with :func:`specdiff.config.from_dict`
before anything runs; a factor whose levels give the same config in some row, a factor on a seed key, or a
sampling factor under a training-metric response is an error, so no factor maps to nothing.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from specdiff.fileio import check_plain_name, read_yaml

from .analysis import GOALS
from .arrays import (
    ARRAYS,
    canonical_name,
    column_levels,
    describe,
    design,
    interaction_column,
    orthogonal_array,
    select_array,
)

TRAINING_METRICS: tuple[str, ...] = (
    "final_loss", "loss_drop_per_second", "images_per_second", "images_per_second_wall", "runtime_s", "compute_s",
    "spectral_op_time_s", "spectral_op_fraction", "num_parameters", "fit_k", "fit_r2", "loss_threshold_steps",
    "loss_threshold_seconds",
)
"""Responses read from the run's metrics (``train``'s ``TrainResult.metrics``)."""

SAMPLE_METRICS: dict[str, str] = {
    "spectral_distance_db": "spectral_distance",
    "band_power_db_low": "band_power",
    "band_power_db_mid": "band_power",
    "band_power_db_high": "band_power",
    "fid_offline": "fid",
    "fid_inception": "fid",
    "kid_offline": "kid",
    "kid_inception": "kid",
}
"""Responses from evaluating the run's samples against the data's test split: result key -> ``evaluate`` metric."""

SEED_KEYS: tuple[str, ...] = ("training.seed", "sampling.seed")
RUNNER_KEYS: tuple[str, ...] = ("training.threads",)  # set per worker by the runner
_TOP_KEYS = ("name", "description", "base", "set", "array", "factors", "interactions", "noise", "replicates", "seed",
             "response", "pool", "alpha")
_FACTOR_KEYS = ("key", "levels", "labels", "column")
# Factor names name files (figures/interaction_<a>x<b>.png): the plain-name rule of run ids and sample tags.
_RESPONSE_KEYS = ("metric", "goal", "num_reference")
_TWO_LEVEL = ("L4", "L8", "L16")


class StudyError(ValueError):
    """A bad study file; the message is one line naming the study key, factor or level."""


@dataclass(frozen=True)
class Factor:
    name: str
    key: str
    levels: tuple[Any, ...]
    labels: tuple[str, ...]
    column: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"key": self.key, "levels": [_plain(v) for v in self.levels], "labels": list(self.labels)}
        if self.column is not None:
            out["column"] = self.column
        return out


@dataclass(frozen=True)
class Response:
    metric: str
    goal: str
    num_reference: int = 256

    @property
    def source(self) -> str:
        """"metrics" (read from the training run) or "samples" (sample, then evaluate)."""
        return "samples" if self.metric in SAMPLE_METRICS else "metrics"


@dataclass(frozen=True)
class Condition:
    """One replicate of a row: a noise condition (index into the full factorial of the noise levels) and a seed."""

    noise: int
    replicate: int
    seed: int
    noise_levels: tuple[int, ...]


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    base: Mapping[str, Any]
    factors: tuple[Factor, ...]
    noise: tuple[Factor, ...]
    interactions: tuple[tuple[str, str], ...]
    interaction_columns: tuple[int, ...]
    replicates: int
    seed: int
    response: Response
    pool: Any
    alpha: float
    array: str

    # ------------------------------------------------------------------------------------------- the design

    @property
    def columns(self) -> tuple[int, ...]:
        return tuple(f.column for f in self.factors)  # type: ignore[misc]

    @property
    def levels(self) -> np.ndarray:
        """Level index of each factor in each row, ``int64[runs, factors]``."""
        return design(self.array, list(self.columns), [len(f.levels) for f in self.factors])

    @property
    def interaction_names(self) -> tuple[str, ...]:
        return tuple(f"{a}x{b}" for a, b in self.interactions)

    def analysis_levels(self) -> tuple[np.ndarray, list[str]]:
        """Levels for :func:`analyze`: the factors plus one column per reserved interaction (named ``AxB``)."""
        lv = self.levels
        if self.interactions:
            arr = orthogonal_array(self.array)
            lv = np.concatenate([lv, arr[:, list(self.interaction_columns)]], axis=1)
        return lv, [f.name for f in self.factors] + list(self.interaction_names)

    @property
    def num_rows(self) -> int:
        return int(orthogonal_array(self.array).shape[0])

    def conditions(self) -> list[Condition]:
        """The replicates of a row, in response-column order: noise conditions (first factor slowest), seeds."""
        combos = list(itertools.product(*[range(len(f.levels)) for f in self.noise])) or [()]
        return [Condition(j, k, self.seed + k, tuple(combo)) for j, combo in enumerate(combos)
                for k in range(self.replicates)]

    def run_id(self, row: int | str, condition: Condition) -> str:
        """``r03-s1`` (row 3, seed index 1), ``r03-n1-s0`` with noise factors, ``confirm-s0`` for confirmation."""
        head = f"r{row:02d}" if isinstance(row, int) else str(row)
        noise = f"-n{condition.noise}" if self.noise else ""
        return f"{head}{noise}-s{condition.replicate}"

    # ------------------------------------------------------------------------------------------- configs

    def raw_config(self, levels: Sequence[int], condition: Condition, threads: int | None = None) -> dict[str, Any]:
        """The run's config mapping: base, then factor and noise values (shallowest key first), then the seeds."""
        settings = [(f.key, f.levels[lvl]) for f, lvl in zip(self.factors, levels, strict=True)]
        settings += [(f.key, f.levels[lvl]) for f, lvl in zip(self.noise, condition.noise_levels, strict=True)]
        raw = copy.deepcopy(dict(self.base))
        for key, value in sorted(settings, key=lambda kv: kv[0].count(".")):
            _set_dotted(raw, key, copy.deepcopy(_plain(value)))
        for key in SEED_KEYS:
            _set_dotted(raw, key, condition.seed)
        if threads is not None:
            _set_dotted(raw, "training.threads", threads)
        return raw

    def row_levels(self, row: int) -> list[int]:
        """Level of each factor in 1-based ``row``."""
        return [int(v) for v in self.levels[row - 1]]

    def level_labels(self, levels: Sequence[int]) -> dict[str, str]:
        return {f.name: f.labels[lvl] for f, lvl in zip(self.factors, levels, strict=True)}

    # ------------------------------------------------------------------------------------------- file form

    def to_dict(self) -> dict[str, Any]:
        """The resolved study (base inline, columns assigned): what ``D/study.yaml`` holds; loads back identical."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "base": _plain(self.base),
            "array": self.array,
            "factors": {f.name: f.to_dict() for f in self.factors},
        }
        if self.interactions:
            out["interactions"] = [list(p) for p in self.interactions]
        if self.noise:
            out["noise"] = {f.name: {k: v for k, v in f.to_dict().items() if k != "column"} for f in self.noise}
        out["replicates"] = self.replicates
        out["seed"] = self.seed
        out["response"] = {"metric": self.response.metric, "goal": self.response.goal}
        if self.response.source == "samples":
            out["response"]["num_reference"] = self.response.num_reference
        out["pool"] = self.pool if self.pool is not None else "none"
        out["alpha"] = self.alpha
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ----------------------------------------------------------------------------------------------- loading


def load_study(source: str | os.PathLike | Mapping[str, Any]) -> Study:
    """A validated :class:`Study` from a YAML path or a mapping (a mapping's relative ``base`` path is resolved
    against the working directory). Raises StudyError (one line) for anything wrong, before anything runs."""
    if isinstance(source, Mapping):
        raw, where, folder, default_name = dict(source), "study", os.getcwd(), "study"
    else:
        path = os.fspath(source)
        try:
            raw = read_yaml(path)  # safe, no aliases, size-bounded
        except FileNotFoundError:
            raise StudyError(f"study file {path!r} does not exist") from None
        except (OSError, ValueError) as exc:
            raise StudyError(f"study file {path!r} cannot be read: {exc}") from None
        except yaml.YAMLError as exc:
            raise StudyError(f"study file {path!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
        where, folder = path, os.path.dirname(os.path.abspath(path))
        default_name = os.path.splitext(os.path.basename(path))[0]
        if not isinstance(raw, Mapping):
            raise StudyError(f"{where}: a study file must hold a mapping (keys: {', '.join(_TOP_KEYS)})")
    _check_keys(where, "", raw, _TOP_KEYS)

    name = str(raw.get("name", default_name))
    try:
        check_plain_name(name, "name")
    except ValueError as exc:
        raise StudyError(f"{where}: {exc} (it names the study folder)") from None
    base = _load_base(where, raw.get("base"), folder, raw.get("set"))
    factors = _factors(where, "factors", raw.get("factors"), required=True)
    noise = _factors(where, "noise", raw.get("noise", {}), required=False)
    names = [f.name for f in factors + noise]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise StudyError(f"{where}: factor name {dup[0]!r} is used twice (factors and noise share one namespace)")
    _check_factor_keys(where, factors + noise)

    replicates = raw.get("replicates", 1)
    if not isinstance(replicates, int) or isinstance(replicates, bool) or replicates < 1:
        raise StudyError(f"{where}: replicates = {replicates!r}: must be an integer >= 1")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**62:
        raise StudyError(f"{where}: seed = {seed!r}: must be an integer in [0, 2**62)")
    response = _response(where, raw.get("response"))
    n_conditions = replicates * math.prod(len(f.levels) for f in noise)
    if response.goal == "nominal" and n_conditions < 2:
        raise StudyError(f"{where}: response.goal = 'nominal' needs at least 2 replicates per row "
                         f"(replicates x noise conditions = {n_conditions})")
    if response.source == "metrics":
        for f in factors + noise:
            if f.key == "sampling" or f.key.startswith("sampling."):
                raise StudyError(f"{where}: factor {f.name!r} ({f.key}) cannot affect response {response.metric!r}: "
                                 "it is read from the training run; use a sample metric "
                                 f"({', '.join(SAMPLE_METRICS)}) or drop the factor")

    pool = raw.get("pool", "auto")
    if pool in (None, "none"):
        pool = None
    elif pool != "auto":
        if not (isinstance(pool, list) and all(isinstance(p, str) for p in pool)):
            raise StudyError(f"{where}: pool = {pool!r}: must be auto, none or a list of factor names")
    alpha = raw.get("alpha", 0.05)
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise StudyError(f"{where}: alpha = {alpha!r}: must be a number in (0, 1)")

    interactions = _interactions(where, raw.get("interactions", []), factors)
    array, columns, inter_cols = _assign(where, raw.get("array"), factors, interactions)
    factors = tuple(Factor(f.name, f.key, f.levels, f.labels, c) for f, c in zip(factors, columns, strict=True))
    clash = sorted({f"{a}x{b}" for a, b in interactions} & set(names))
    if clash:
        raise StudyError(f"{where}: factor name {clash[0]!r} is also the name of a declared interaction")
    if isinstance(pool, list):
        known = [f.name for f in factors] + [f"{a}x{b}" for a, b in interactions]
        for p in pool:
            if p not in known:
                raise StudyError(f"{where}: pool: unknown factor {p!r}; factors: {', '.join(known)}")

    study = Study(name=name, description=str(raw.get("description", "")), base=base, factors=factors,
                  noise=noise, interactions=interactions, interaction_columns=inter_cols, replicates=replicates,
                  seed=seed, response=response, pool=pool, alpha=float(alpha), array=array)
    validate_configs(study, where)
    return study


def _check_keys(where: str, prefix: str, raw: Mapping[str, Any], valid: Sequence[str]) -> None:
    for key in raw:
        if key not in valid:
            close = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise StudyError(f"{where}: unknown key {prefix}{key!r} (valid: {', '.join(valid)}){hint}")


def _load_base(where: str, base: Any, folder: str, overrides: Any) -> dict[str, Any]:
    from specdiff.config import ConfigError, load_raw

    if base is None:
        raw: dict[str, Any] = {}
    elif isinstance(base, str):
        path = base if os.path.isabs(base) else os.path.join(folder, base)
        try:
            raw = load_raw(path)
        except ConfigError as exc:
            raise StudyError(f"{where}: base: {exc}") from None
    elif isinstance(base, Mapping):
        raw = copy.deepcopy(dict(base))
    else:
        raise StudyError(f"{where}: base = {base!r}: must be a config path or an inline config mapping")
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise StudyError(f"{where}: set = {overrides!r}: must be a mapping of dotted config keys to values")
        for key, value in overrides.items():
            if not isinstance(key, str) or "." not in key:
                raise StudyError(f"{where}: set: key {key!r} must be a dotted config key like training.steps")
            _set_dotted(raw, key, copy.deepcopy(value))
    return raw


def _factors(where: str, section: str, raw: Any, required: bool) -> tuple[Factor, ...]:
    if raw is None or (not raw and not required):
        return ()
    if not isinstance(raw, Mapping) or not raw:
        raise StudyError(f"{where}: {section} must be a non-empty mapping of factor name -> {{key, levels}}")
    out = []
    for name, spec in raw.items():
        label = f"{section}.{name}"
        try:
            check_plain_name(name, "factor name")
        except ValueError as exc:
            raise StudyError(f"{where}: {section}: {exc} (it names figure files)") from None
        if not isinstance(spec, Mapping):
            raise StudyError(f"{where}: {label} must be a mapping with key and levels")
        _check_keys(where, f"{label}.", spec, _FACTOR_KEYS if section == "factors" else _FACTOR_KEYS[:3])
        key = spec.get("key")
        if not isinstance(key, str) or not key:
            raise StudyError(f"{where}: {label}.key = {key!r}: must be a config key like optim.lr or model")
        levels = spec.get("levels")
        if not isinstance(levels, list) or len(levels) < 2:
            raise StudyError(f"{where}: {label}.levels = {levels!r}: must be a list of at least 2 values")
        labels = spec.get("labels")
        if labels is None:
            labels = [_label(v) for v in levels]
        if not isinstance(labels, list) or len(labels) != len(levels):
            raise StudyError(f"{where}: {label}.labels = {labels!r}: must list one label per level")
        labels = [str(v) for v in labels]
        if len(set(labels)) != len(labels):
            raise StudyError(f"{where}: {label}: level labels {labels} are not distinct; give labels:")
        column = spec.get("column")
        if column is not None and (not isinstance(column, int) or isinstance(column, bool) or column < 0):
            raise StudyError(f"{where}: {label}.column = {column!r}: must be a 0-based column index")
        out.append(Factor(name, key, tuple(copy.deepcopy(levels)), tuple(labels), column))
    return tuple(out)


def _label(value: Any) -> str:
    if isinstance(value, Mapping):
        if "name" in value:
            return str(value["name"])
        return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))
    return str(value)


def _check_factor_keys(where: str, factors: Sequence[Factor]) -> None:
    from specdiff.config import SECTIONS

    keys = [f.key for f in factors]
    for f in factors:
        section = f.key.split(".")[0]
        if section not in SECTIONS:
            raise StudyError(f"{where}: factor {f.name!r}: key {f.key!r} is not in a config section "
                             f"({', '.join(SECTIONS)})")
        if f.key in SEED_KEYS:
            raise StudyError(f"{where}: factor {f.name!r}: {f.key} is the replicate seed (set by replicates/seed); "
                             "vary seeds with replicates, not a factor")
        if f.key in RUNNER_KEYS:
            raise StudyError(f"{where}: factor {f.name!r}: {f.key} is set by the runner (threads per worker)")
        if keys.count(f.key) > 1:
            raise StudyError(f"{where}: two factors set the same key {f.key!r}")


def _response(where: str, raw: Any) -> Response:
    if not isinstance(raw, Mapping):
        raise StudyError(f"{where}: response must be a mapping with metric and goal")
    _check_keys(where, "response.", raw, _RESPONSE_KEYS)
    metric, goal = raw.get("metric"), raw.get("goal")
    valid = list(TRAINING_METRICS) + list(SAMPLE_METRICS)
    if metric not in valid:
        close = difflib.get_close_matches(str(metric), valid, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise StudyError(f"{where}: response.metric = {metric!r}: must be one of {', '.join(valid)}{hint}")
    if goal not in GOALS:
        raise StudyError(f"{where}: response.goal = {goal!r}: must be one of {', '.join(GOALS)}")
    num_reference = raw.get("num_reference", 256)
    if not isinstance(num_reference, int) or isinstance(num_reference, bool) or num_reference < 2:
        raise StudyError(f"{where}: response.num_reference = {num_reference!r}: must be an integer >= 2")
    if "num_reference" in raw and metric not in SAMPLE_METRICS:
        raise StudyError(f"{where}: response.num_reference is only read for sample metrics, not {metric!r}")
    return Response(metric, goal, num_reference)


def _interactions(where: str, raw: Any, factors: Sequence[Factor]) -> tuple[tuple[str, str], ...]:
    names = [f.name for f in factors]
    if not isinstance(raw, list):
        raise StudyError(f"{where}: interactions = {raw!r}: must be a list of factor pairs like [[A, B]]")
    out = []
    for pair in raw:
        if not (isinstance(pair, list) and len(pair) == 2 and pair[0] != pair[1]):
            raise StudyError(f"{where}: interactions: {pair!r} must be a pair of two different factors")
        for p in pair:
            if p not in names:
                raise StudyError(f"{where}: interactions: unknown factor {p!r}; factors: {', '.join(names)}")
        if tuple(pair) in out or tuple(reversed(pair)) in out:
            raise StudyError(f"{where}: interactions: {pair!r} is listed twice")
        out.append((str(pair[0]), str(pair[1])))
    return tuple(out)


# ----------------------------------------------------------------------------------------- column assignment


def _preferred_order(array: str) -> list[int]:
    from . import arrays

    ncol = orthogonal_array(array).shape[1]
    return list(getattr(arrays, "_PREFERRED", {}).get(array, range(ncol)))


def _assign(where: str, array: Any, factors: Sequence[Factor],
            interactions: Sequence[tuple[str, str]]) -> tuple[str, list[int], tuple[int, ...]]:
    """(array, column per factor, column per interaction). Explicit ``column:`` entries are kept; the rest take
    the array's basic columns first; an interaction column may hold no factor."""
    want = [len(f.levels) for f in factors]
    fixed = {i: f.column for i, f in enumerate(factors) if f.column is not None}
    if array is not None:
        try:
            name = canonical_name(array)
        except ValueError as exc:
            raise StudyError(f"{where}: array: {exc}") from None
        candidates = [name]
    elif not interactions and not fixed:
        try:
            name, columns = select_array(want)
        except ValueError as exc:
            raise StudyError(f"{where}: factors: {exc}") from None
        return name, columns, ()
    else:
        candidates = sorted(_TWO_LEVEL if interactions else ARRAYS,
                            key=lambda n: (orthogonal_array(n).shape[0], ARRAYS.index(n)))
    for name in candidates:
        if interactions and name not in _TWO_LEVEL:
            raise StudyError(f"{where}: interactions need a two-level array ({', '.join(_TWO_LEVEL)}), not "
                             f"{describe(name)}")
        found = _search(name, want, fixed, [([f.name for f in factors].index(a), [f.name for f in factors].index(b))
                                             for a, b in interactions])
        if found is not None:
            return name, found[0], found[1]
    what = f"{describe(candidates[0])}" if array is not None else "any built-in array"
    detail = f" with interactions {[list(p) for p in interactions]}" if interactions else ""
    detail += f" and columns {fixed}" if fixed else ""
    raise StudyError(f"{where}: {len(factors)} factors with levels {want}{detail} do not fit {what}")


def _search(array: str, want: list[int], fixed: dict[int, int],
            pairs: list[tuple[int, int]]) -> tuple[list[int], tuple[int, ...]] | None:
    """Backtracking column assignment: factors in interactions first, columns in the array's preferred order,
    exact level counts before dummy levels."""
    ks = column_levels(orthogonal_array(array))
    order = _preferred_order(array)
    for i, c in fixed.items():
        if not 0 <= c < len(ks) or want[i] > ks[c]:
            return None
    if len(set(fixed.values())) != len(fixed):
        return None
    in_pairs = [i for p in pairs for i in p]
    factor_order = sorted(range(len(want)), key=lambda i: (i in fixed, i not in in_pairs, i))
    factor_order = [i for i in factor_order if i not in fixed]
    assigned = dict(fixed)

    def interaction_cols() -> tuple[int, ...] | None:
        cols = []
        for a, b in pairs:
            if a in assigned and b in assigned:
                c = interaction_column(array, assigned[a], assigned[b])
                if c in assigned.values() or c in cols:
                    return None
                cols.append(c)
        return tuple(cols)

    def go(pos: int) -> tuple[int, ...] | None:
        inter = interaction_cols()
        if inter is None:
            return None
        if pos == len(factor_order):
            return inter
        i = factor_order[pos]
        used = set(assigned.values()) | set(inter)
        free = [c for c in order if c not in used and ks[c] >= want[i]]
        for c in sorted(free, key=lambda c: ks[c] != want[i]):
            assigned[i] = c
            found = go(pos + 1)
            if found is not None:
                return found
            del assigned[i]
        return None

    inter = go(0)
    if inter is None:
        return None
    return [assigned[i] for i in range(len(want))], inter


# ------------------------------------------------------------------------------------------ config validation


def validate_configs(study: Study, where: str = "study") -> None:
    """Builds every row's config for every noise condition (seed range checked with the last seed) and checks
    that each factor changes the resolved config in every row. StudyError names the factor, level and the
    ConfigError."""
    from specdiff.config import ConfigError, from_dict

    try:
        from_dict(study.base)
    except ConfigError as exc:
        raise StudyError(f"{where}: base config: {exc}") from None
    conditions = study.conditions()
    last_seed = conditions[-1].seed
    everything = study.factors + study.noise
    for row in range(1, study.num_rows + 1):
        levels = study.row_levels(row)
        for cond in conditions:
            cond = Condition(cond.noise, cond.replicate, last_seed, cond.noise_levels)
            all_levels = list(levels) + list(cond.noise_levels)
            try:
                resolved = from_dict(study.raw_config(levels, cond)).to_dict()
            except ConfigError as exc:
                culprits = [i for i, f in enumerate(everything) if _related(f.key, exc.key)]
                if len(culprits) == 1:
                    f = everything[culprits[0]]
                    lvl = all_levels[culprits[0]]
                    raise StudyError(f"{where}: factor {f.name!r} level {lvl} ({f.labels[lvl]}) in row {row}: "
                                     f"{exc}") from None
                labels = ", ".join(f"{f.name}={f.labels[lv]}" for f, lv in zip(everything, all_levels, strict=True))
                raise StudyError(f"{where}: row {row} ({labels}): {exc}") from None
            if cond.replicate == 0:
                _check_changes(study, where, row, levels, cond, resolved)


def _check_changes(study: Study, where: str, row: int, levels: list[int], cond: Condition,
                   resolved: dict[str, Any]) -> None:
    """A factor whose other level leaves this row's config unchanged maps to nothing (the playground's bug)."""
    from specdiff.config import ConfigError, from_dict

    for i, f in enumerate(study.factors):
        for other in range(len(f.levels)):
            if other == levels[i]:
                continue
            swapped = list(levels)
            swapped[i] = other
            try:
                alt = from_dict(study.raw_config(swapped, cond)).to_dict()
            except ConfigError:
                continue  # a combination outside the array; only the array's rows must be valid
            if alt == resolved:
                raise StudyError(f"{where}: factor {f.name!r}: levels {levels[i]} ({f.labels[levels[i]]}) and "
                                 f"{other} ({f.labels[other]}) give the same config in row {row}; the factor "
                                 "would change nothing")
    for i, f in enumerate(study.noise):
        for other in range(len(f.levels)):
            if other == cond.noise_levels[i]:
                continue
            nl = list(cond.noise_levels)
            nl[i] = other
            try:
                alt = from_dict(study.raw_config(levels, Condition(0, 0, cond.seed, tuple(nl)))).to_dict()
            except ConfigError:
                continue
            if alt == resolved:
                raise StudyError(f"{where}: noise factor {f.name!r}: levels {cond.noise_levels[i]} and {other} "
                                 f"give the same config in row {row}; the factor would change nothing")


def _related(factor_key: str, error_key: str) -> bool:
    a, b = factor_key.split("."), error_key.split(".")
    n = min(len(a), len(b))
    return bool(error_key) and a[:n] == b[:n]


# ----------------------------------------------------------------------------------------------- helpers


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    from specdiff.config import ConfigError, set_dotted

    try:
        set_dotted(raw, key, value)
    except ConfigError as exc:
        raise StudyError(f"cannot set {key}: {exc.allowed}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
