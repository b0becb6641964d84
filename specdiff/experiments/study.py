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

The file is parsed like a run config (:func:`specdiff.config.build` into :class:`StudyFile`): unknown keys are
refused with the nearest valid one, values are typed and range-checked, and every error is one line naming the
file and the dotted key (``factors.lr.levels = 0.001: must be a list``).

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
import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import yaml

from specdiff.config import SECTIONS, ConfigError, build, did_you_mean, from_dict, load_raw, require, set_dotted
from specdiff.errors import UserError
from specdiff.fileio import PLAIN_NAME_RULE, is_plain_name, plain, read_yaml, yaml_problem

from .analysis import GOALS
from .arrays import (
    ARRAYS,
    canonical_name,
    column_levels,
    describe,
    design,
    interaction_column,
    orthogonal_array,
    preferred_columns,
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
_TWO_LEVEL = ("L4", "L8", "L16")


class StudyError(UserError, ValueError):
    """A bad study file, or a study folder that cannot be used; the message is one line naming the study file and
    the dotted key."""


# ----------------------------------------------------------------------------------------- the file form
# A study file is parsed like a config (specdiff.config.build): unknown keys with the nearest valid one, typed
# values, range checks in __post_init__, every error ``dotted.key = value: what is allowed``.


@dataclass(frozen=True)
class NoiseFactorSpec:
    """A noise factor as written: a dotted config key (``model``, ``loss``, ``optim.lr``; a mapping level
    replaces the whole (sub-)mapping) and at least two levels, with optional labels (default: a mapping level's
    ``name`` field, or the value)."""

    key: str | None = None
    levels: tuple[Any, ...] | None = None
    labels: tuple[Any, ...] | None = None

    def __post_init__(self):
        require(isinstance(self.key, str) and bool(self.key), "key", self.key,
                "must be a config key like optim.lr or model")
        require(self.key.split(".")[0] in SECTIONS, "key", self.key,
                f"is not in a config section ({', '.join(SECTIONS)})")
        require(self.key not in SEED_KEYS, "key", self.key,
                "is the replicate seed (set by replicates/seed); vary seeds with replicates, not a factor")
        require(self.key not in RUNNER_KEYS, "key", self.key, "is set by the runner (threads per worker)")
        require(self.levels is not None and len(self.levels) >= 2, "levels", plain(self.levels),
                "must be a list of at least 2 values")
        labels = self.labels if self.labels is not None else tuple(_label(v) for v in self.levels)
        require(len(labels) == len(self.levels), "labels", plain(labels), "must list one label per level")
        require(all(isinstance(v, (str, int, float)) for v in labels), "labels", plain(labels),
                "must be strings or numbers")
        labels = tuple(str(v) for v in labels)
        require(len(set(labels)) == len(labels), "labels", list(labels), "are not distinct; give labels:")
        object.__setattr__(self, "labels", labels)


@dataclass(frozen=True)
class FactorSpec(NoiseFactorSpec):
    """A control factor as written; ``column`` pins it to a 0-based array column (default: assigned)."""

    column: int | None = None

    def __post_init__(self):
        super().__post_init__()
        require(self.column is None or self.column >= 0, "column", self.column, "must be a 0-based column index")


@dataclass(frozen=True)
class Response:
    """What a run is scored by: a training metric (read from the run) or a sample metric (sample, then evaluate
    against ``num_reference`` test-split images), and the S/N goal."""

    metric: str | None = None
    goal: str | None = None
    num_reference: int = 256

    def __post_init__(self):
        valid = list(TRAINING_METRICS) + list(SAMPLE_METRICS)
        require(self.metric in valid, "metric", self.metric, did_you_mean("unknown metric", str(self.metric), valid))
        require(self.goal in GOALS, "goal", self.goal, f"must be one of {', '.join(GOALS)}")
        require(self.num_reference >= 2, "num_reference", self.num_reference, "must be an integer >= 2")
        require(self.source == "samples" or self.num_reference == 256, "num_reference", self.num_reference,
                f"is only read for sample metrics, not {self.metric!r}")

    @property
    def source(self) -> str:
        """"metrics" (read from the training run) or "samples" (sample, then evaluate)."""
        return "samples" if self.metric in SAMPLE_METRICS else "metrics"


@dataclass(frozen=True)
class StudyFile:
    """A study file as written (see the module docstring); :func:`load_study` resolves it into a :class:`Study`."""

    name: str | None = None  # default: the file name without suffix
    description: str = ""
    base: str | Mapping[str, Any] | None = None
    set: Mapping[str, Any] = field(default_factory=dict)
    array: str | None = None
    factors: Mapping[str, FactorSpec] | None = None
    interactions: tuple[tuple[str, str], ...] = ()
    noise: Mapping[str, NoiseFactorSpec] | None = None
    replicates: int = 1
    seed: int = 0
    response: Response | None = None
    pool: str | tuple[str, ...] | None = "auto"
    alpha: float = 0.05

    def __post_init__(self):
        require(self.base is None or isinstance(self.base, (str, Mapping)), "base", self.base,
                "must be a config path or an inline config mapping")
        for key in self.set:
            require("." in key, f"set.{key}", self.set[key], "the key must be a dotted config key like training.steps")
        if self.array is not None:
            try:
                object.__setattr__(self, "array", canonical_name(self.array))
            except ValueError as exc:
                raise ConfigError("array", self.array, str(exc)) from None
        require(bool(self.factors), "factors", plain(self.factors),
                "must be a non-empty mapping of factor name -> {key, levels}")
        noise = self.noise or {}
        object.__setattr__(self, "noise", noise)
        for section, specs in (("factors", self.factors), ("noise", noise)):
            for name in specs:
                if not is_plain_name(name):
                    raise ConfigError.about(section, f"factor name {name!r} is not a plain name: use "
                                            f"{PLAIN_NAME_RULE} (it names figure files)")
        for name in noise:
            if name in self.factors:
                raise ConfigError.about(f"noise.{name}", "is the name of a factor too (factors and noise share one "
                                        "namespace)")
        everything = {**{f"factors.{n}": f for n, f in self.factors.items()},
                      **{f"noise.{n}": f for n, f in noise.items()}}
        keys = [f.key for f in everything.values()]
        for where, f in everything.items():
            require(keys.count(f.key) == 1, f"{where}.key", f.key, "is set by another factor too")
        require(self.replicates >= 1, "replicates", self.replicates, "must be an integer >= 1")
        require(0 <= self.seed < 2**62, "seed", self.seed, "must be an integer in [0, 2**62)")
        require(self.response is not None, "response", self.response, "must be a mapping with metric and goal")
        conditions = self.replicates * math.prod(len(f.levels) for f in noise.values())
        require(self.response.goal != "nominal" or conditions >= 2, "response.goal", self.response.goal,
                f"needs at least 2 replicates per row (replicates x noise conditions = {conditions})")
        if self.response.source == "metrics":
            for where, f in everything.items():
                require(f.key != "sampling" and not f.key.startswith("sampling."), f"{where}.key", f.key,
                        f"cannot affect response {self.response.metric!r}: it is read from the training run; use a "
                        f"sample metric ({', '.join(SAMPLE_METRICS)}) or drop the factor")
        require(0 < self.alpha < 1, "alpha", self.alpha, "must be a number in (0, 1)")

        names = list(self.factors)
        seen: list[tuple[str, str]] = []
        for i, pair in enumerate(self.interactions):
            require(pair[0] != pair[1], f"interactions[{i}]", list(pair), "must be a pair of two different factors")
            for j, p in enumerate(pair):
                require(p in names, f"interactions[{i}][{j}]", p, did_you_mean("unknown factor", p, names))
            require(pair not in seen and pair[::-1] not in seen, f"interactions[{i}]", list(pair), "is listed twice")
            seen.append(pair)
        for where in everything:
            if where.split(".", 1)[1] in self.interaction_names:
                raise ConfigError.about(where, "is also the name of a declared interaction")

        pool = self.pool
        if pool in (None, "none"):
            pool = None
        elif isinstance(pool, (list, tuple)) and all(isinstance(p, str) for p in pool):
            pool = tuple(pool)
            known = names + list(self.interaction_names)
            for i, p in enumerate(pool):
                require(p in known, f"pool[{i}]", p, did_you_mean("unknown factor", p, known))
        else:
            require(pool == "auto", "pool", pool, "must be auto, none or a list of factor names")
        object.__setattr__(self, "pool", pool)

    @property
    def interaction_names(self) -> tuple[str, ...]:
        return tuple(f"{a}x{b}" for a, b in self.interactions)


@dataclass(frozen=True)
class Factor:
    """A resolved control or noise factor: its name, dotted config key, levels, level labels and array column."""

    name: str
    key: str
    levels: tuple[Any, ...]
    labels: tuple[str, ...]
    column: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"key": self.key, "levels": plain(self.levels), "labels": list(self.labels)}
        if self.column is not None:
            out["column"] = self.column
        return out


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
            _set_dotted(raw, key, copy.deepcopy(plain(value)))
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
            "base": plain(self.base),
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
        out["pool"] = plain(self.pool) if self.pool is not None else "none"
        out["alpha"] = self.alpha
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ----------------------------------------------------------------------------------------------- loading


def load_study(source: str | os.PathLike | Mapping[str, Any]) -> Study:
    """A validated :class:`Study` from a YAML path or a mapping (a mapping's relative ``base`` path is resolved
    against the working directory). Raises StudyError (one line: the file, then the config error) for anything
    wrong, before anything runs."""
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
            raise StudyError(f"study file {path!r} is not valid YAML: {yaml_problem(exc)}") from None
        where, folder = path, os.path.dirname(os.path.abspath(path))
        default_name = os.path.splitext(os.path.basename(path))[0]
    try:
        spec = build(StudyFile, raw)
        name = spec.name if spec.name is not None else default_name
        require(is_plain_name(name), "name", name, f"must be a plain name: {PLAIN_NAME_RULE} (it names the study "
                "folder)")
        base = _load_base(spec.base, folder, spec.set)
        factors = tuple(Factor(n, f.key, f.levels, f.labels, f.column) for n, f in spec.factors.items())
        noise = tuple(Factor(n, f.key, f.levels, f.labels) for n, f in spec.noise.items())
        array, columns, inter_cols = _assign(spec.array, factors, spec.interactions)
    except ConfigError as exc:
        raise StudyError(f"{where}: {exc}") from None
    study = Study(name=name, description=spec.description, base=base,
                  factors=tuple(replace(f, column=c) for f, c in zip(factors, columns, strict=True)), noise=noise,
                  interactions=spec.interactions, interaction_columns=inter_cols, replicates=spec.replicates,
                  seed=spec.seed, response=spec.response, pool=list(spec.pool) if isinstance(spec.pool, tuple)
                  else spec.pool, alpha=spec.alpha, array=array)
    validate_configs(study, where)
    return study


def _load_base(base: str | Mapping[str, Any] | None, folder: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The base config mapping: a file (relative to the study's folder) or inline, with ``set`` applied."""
    if base is None:
        raw: dict[str, Any] = {}
    elif isinstance(base, str):
        try:
            raw = load_raw(base if os.path.isabs(base) else os.path.join(folder, base))
        except ConfigError as exc:
            raise ConfigError.about("base", str(exc)) from None
    else:
        raw = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        try:
            set_dotted(raw, key, copy.deepcopy(value))
        except ConfigError as exc:
            raise ConfigError(f"set.{exc.key}", exc.value, exc.allowed) from None
    return raw


def _label(value: Any) -> str:
    if isinstance(value, Mapping):
        if "name" in value:
            return str(value["name"])
        return json.dumps(plain(value), sort_keys=True, separators=(",", ":"))
    return str(value)


# ----------------------------------------------------------------------------------------- column assignment


def _assign(array: str | None, factors: Sequence[Factor],
            interactions: Sequence[tuple[str, str]]) -> tuple[str, list[int], tuple[int, ...]]:
    """(array, column per factor, column per interaction). Explicit ``column:`` entries are kept; the rest take
    the array's basic columns first; an interaction column may hold no factor."""
    want = [len(f.levels) for f in factors]
    fixed = {i: f.column for i, f in enumerate(factors) if f.column is not None}
    if array is not None:
        candidates = [array]
    elif not interactions and not fixed:
        try:
            name, columns = select_array(want)
        except ValueError as exc:
            raise ConfigError.about("factors", str(exc)) from None
        return name, columns, ()
    else:
        candidates = sorted(_TWO_LEVEL if interactions else ARRAYS,
                            key=lambda n: (orthogonal_array(n).shape[0], ARRAYS.index(n)))
    for name in candidates:
        if interactions and name not in _TWO_LEVEL:
            raise ConfigError.about("interactions", f"need a two-level array ({', '.join(_TWO_LEVEL)}), not "
                                    f"{describe(name)}")
        found = _search(name, want, fixed, [([f.name for f in factors].index(a), [f.name for f in factors].index(b))
                                             for a, b in interactions])
        if found is not None:
            return name, found[0], found[1]
    what = f"{describe(candidates[0])}" if array is not None else "any built-in array"
    detail = f" with interactions {[list(p) for p in interactions]}" if interactions else ""
    detail += f" and columns {fixed}" if fixed else ""
    raise ConfigError.about("factors", f"{len(factors)} factors with levels {want}{detail} do not fit {what}")


def _search(array: str, want: list[int], fixed: dict[int, int],
            pairs: list[tuple[int, int]]) -> tuple[list[int], tuple[int, ...]] | None:
    """Backtracking column assignment: factors in interactions first, columns in the array's preferred order,
    exact level counts before dummy levels."""
    ks = column_levels(orthogonal_array(array))
    order = preferred_columns(array)
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
    try:
        set_dotted(raw, key, value)
    except ConfigError as exc:
        raise StudyError(f"cannot set {key}: {exc.allowed}") from None
