"""The training loop's state besides weights, optimiser and random generators: the step, the smoothed loss, the
per-step history and the clocks behind the run's metrics. A checkpoint keeps it as plain data (format 2:
``history``, ``clock`` and ``loss_smooth`` entries next to ``step``), so it loads with
``torch.load(weights_only=True)``; :meth:`TrainState.from_checkpoint` checks that data and names the format when
it is not what that format holds."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from specdiff.train.checkpoint import CheckpointError

LOSS_SMOOTHING = 0.9
"""Weight of the previous value in the smoothed loss (an exponential moving average over steps)."""


@dataclass
class History:
    """One entry per trained step: the step number (1-based), its loss (mean over processes) and the training
    compute seconds of the run up to and including it."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)


@dataclass
class Clock:
    """Running totals over every process lifetime of the run.

    ``compute_s``: every step's forward+backward+update; ``wall_s``: the loop's wall time, checkpoints included;
    ``images``: images trained on (all processes); ``timed_s`` / ``timed_images``: the steps run without the
    profiler (its overhead would bias images/s), the basis of images_per_second; ``profiled_s``: the profiled
    steps, of which ``spectral_s`` was spent in specdiff ops."""

    compute_s: float = 0.0
    wall_s: float = 0.0
    spectral_s: float = 0.0
    profiled_s: float = 0.0
    images: int = 0
    timed_s: float = 0.0
    timed_images: int = 0


@dataclass
class TrainState:
    step: int = 0
    loss_smooth: float | None = None
    history: History = field(default_factory=History)
    clock: Clock = field(default_factory=Clock)

    def record(self, loss: float, seconds: float, images: int, spectral_fraction: float | None = None,
               profiled: bool = False) -> None:
        """One finished step: its loss, ``seconds`` of training compute for ``images`` images. A ``profiled`` step
        counts towards the spectral-op share (``spectral_fraction`` of it in specdiff ops, None when the profiler
        saw nothing) instead of towards images_per_second."""
        clock = self.clock
        if profiled:
            if spectral_fraction is not None:
                clock.spectral_s += spectral_fraction * seconds
                clock.profiled_s += seconds
        else:
            clock.timed_s += seconds
            clock.timed_images += images
        clock.compute_s += seconds
        clock.images += images
        self.step += 1
        self.loss_smooth = (loss if self.loss_smooth is None else
                            LOSS_SMOOTHING * self.loss_smooth + (1 - LOSS_SMOOTHING) * loss)
        self.history.step.append(self.step)
        self.history.loss.append(loss)
        self.history.compute_s.append(clock.compute_s)

    def to_checkpoint(self) -> dict[str, Any]:
        """The checkpoint entries (plain data; ``step`` is written by ``save_checkpoint``)."""
        return {"history": dataclasses.asdict(self.history), "clock": dataclasses.asdict(self.clock),
                "loss_smooth": self.loss_smooth}

    @classmethod
    def from_checkpoint(cls, state: Mapping[str, Any], path: str) -> TrainState:
        """The state a checkpoint (as ``load_checkpoint`` returns it) holds; CheckpointError (one line, naming the
        file and its format version) when its entries are missing or not what that format holds."""
        version = state.get("format_version")

        def refuse(problem: str) -> CheckpointError:
            return CheckpointError(f"checkpoint {path!r} (format {version}) cannot be resumed: {problem}; a "
                                   "specdiff checkpoint of format 1 or 2 holds 'history' (lists step, loss, "
                                   "compute_s), 'clock' and 'loss_smooth'")

        def number(value: Any, kind: type) -> bool:
            ok = (int,) if kind is int else (int, float)
            return isinstance(value, ok) and not isinstance(value, bool) and math.isfinite(value)

        def section(key: str, cls_: type) -> dict[str, Any]:
            raw = state.get(key)
            if not isinstance(raw, Mapping):
                raise refuse(f"{key!r} is {type(raw).__name__}, not a mapping")
            names = [f.name for f in dataclasses.fields(cls_)]
            if sorted(raw) != sorted(names):
                raise refuse(f"{key!r} has the entries {sorted(map(str, raw))}, not {sorted(names)}")
            return dict(raw)

        history = section("history", History)
        for key, kind in (("step", int), ("loss", float), ("compute_s", float)):
            if not isinstance(history[key], list) or not all(number(v, kind) for v in history[key]):
                raise refuse(f"history[{key!r}] is not a list of finite {kind.__name__}s")
        if len({len(v) for v in history.values()}) != 1:
            raise refuse("the lists in 'history' differ in length")
        clock = section("clock", Clock)
        for f in dataclasses.fields(Clock):
            kind = int if f.type in (int, "int") else float
            if not number(clock[f.name], kind):
                raise refuse(f"clock[{f.name!r}] = {clock[f.name]!r} is not a finite {kind.__name__}")
        loss_smooth = state.get("loss_smooth", "missing")
        if not (loss_smooth is None or number(loss_smooth, float)):
            raise refuse(f"loss_smooth = {loss_smooth!r} is not a finite number or null")
        return cls(step=state["step"], loss_smooth=loss_smooth,
                   history=History(**{k: list(v) for k, v in history.items()}), clock=Clock(**clock))
