"""Training checkpoints ``checkpoints/step_<N>.pt``: written atomically, found by step, loaded with a clear error.

A checkpoint holds tensors and plain data only (None, bools, numbers, strings, bytes, lists, tuples, dicts), so
it is read with ``torch.load(weights_only=True)``: a file that asks the unpickler for anything else (an object
whose ``__reduce__`` would run a command, a numpy array) is refused before any of it is built. Values that are
not plain when saved (numpy arrays and scalars, e.g. ``np.random.get_state()``) are converted at save time.

Format 1 (specdiff before format 2) stored numpy's RNG state as a numpy array, which ``weights_only`` refuses;
:func:`convert_checkpoint` (``specdiff checkpoint convert PATH``) rewrites such a file once as format 2, reading it
with numpy's array rebuilders allowed and nothing else (never with full pickle).
"""

from __future__ import annotations

import collections
import hashlib
import os
import pickle
import re
import shutil
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from specdiff.errors import UserError
from specdiff.fileio import atomic_open, atomic_save

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # a format-1 file loads when it happens to hold plain data only
_NAME = re.compile(r"^step_(\d+)\.pt$")
_UNSUPPORTED = re.compile(r"nsupported (?:global: )?GLOBAL ([\w.]+)")


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be used (corrupt, truncated, unsafe, or not a specdiff checkpoint)."""


def checkpoint_path(folder: str, step: int) -> str:
    return os.path.join(folder, f"step_{step}.pt")


def list_checkpoints(folder: str) -> list[tuple[int, str]]:
    """(step, path) of every ``step_<N>.pt`` in ``folder``, oldest first; temp files are not checkpoints."""
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), os.path.join(folder, n)) for n in os.listdir(folder) if (m := _NAME.match(n))]
    return sorted(found)


def to_plain(value: Any, where: str = "state") -> Any:
    """``value`` as tensors and plain data, the only things ``torch.load(weights_only=True)`` rebuilds: numpy
    arrays become tensors, numpy scalars Python numbers, mappings dicts (``OrderedDict`` state dicts keep their
    type and ``_metadata``), other sequences lists or tuples. Anything else raises CheckpointError naming
    ``where`` in the state, so a checkpoint that could not be loaded is never written."""
    if value is None or isinstance(value, (bool, int, float, str, bytes, torch.Tensor, torch.dtype, torch.device)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise CheckpointError(f"{where}: a numpy array of objects cannot be saved in a checkpoint")
        return torch.from_numpy(np.ascontiguousarray(value).copy())
    if isinstance(value, Mapping):
        out = collections.OrderedDict() if isinstance(value, collections.OrderedDict) else {}
        for key, item in value.items():
            if not (key is None or isinstance(key, (bool, int, float, str))):
                raise CheckpointError(f"{where}: key {key!r} is a {type(key).__name__}; keys must be str or numbers")
            out[key] = to_plain(item, f"{where}[{key!r}]")
        if getattr(value, "_metadata", None) is not None:  # module versions of a state_dict
            out._metadata = to_plain(value._metadata, f"{where}._metadata")  # type: ignore[attr-defined]
        return out
    if isinstance(value, (list, tuple)):
        items = [to_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise CheckpointError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which a checkpoint "
                          "cannot hold (only tensors and plain data: numbers, strings, lists, tuples, dicts)")


def save_checkpoint(folder: str, step: int, state: dict[str, Any]) -> str:
    """Writes ``state`` (plus the format version and step) to ``step_<step>.pt`` atomically; returns the path.
    ``state`` is converted with :func:`to_plain` first."""
    path = checkpoint_path(folder, step)
    payload = to_plain({"format_version": FORMAT_VERSION, "step": step, **state})
    atomic_save(path, lambda f: torch.save(payload, f))
    return path


def _refused_globals(path: str, exc: BaseException) -> list[str]:
    """The names a refused file asked the unpickler for (read from its opcodes, nothing is run)."""
    names: list[str] = []
    try:
        names = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not a zip checkpoint (a bare pickle): the refusal message names the first one
        pass
    return names or _UNSUPPORTED.findall(str(exc))


def _refusal(path: str, names: list[str]) -> str:
    head = (f"checkpoint {path!r} refused: it holds {', '.join(names[:5])} besides tensors and plain data, and "
            f"loading that could run code (specdiff checkpoints, format {FORMAT_VERSION}, hold tensors and plain data "
            "only)")
    if all(name.startswith("numpy.") for name in names):  # what format 1 holds: numpy's RNG state
        return (f"{head}; a format-1 checkpoint of an older specdiff holds numpy's RNG state: convert it once with "
                f"`specdiff checkpoint convert {path}`")
    return f"{head}; specdiff never writes these, so do not load this file"


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The state saved by :func:`save_checkpoint`, read with ``torch.load(weights_only=True)``; CheckpointError
    naming the file when it is missing, corrupt, holds anything but tensors and plain data, or is not a specdiff
    checkpoint."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of foreign files: the error says it
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        names = _refused_globals(path, exc)
        if names:
            raise CheckpointError(_refusal(path, names)) from None
        raise CheckpointError(_corrupt(path, exc)) from None
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(_corrupt(path, exc)) from None
    _check_layout(path, state)
    return state


def _corrupt(path: str, exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if isinstance(exc, pickle.UnpicklingError):  # torch's weights-only text: the reason follows its marker line
        marker = next((i for i, line in enumerate(lines) if "WeightsUnpickler error" in line), None)
        lines = lines[marker + 1:] if marker is not None else ["not a file written by torch.save"]
    detail = lines[0] if lines else "no detail"
    return (f"checkpoint {path!r} is corrupt or not a specdiff checkpoint ({type(exc).__name__}: {detail}); "
            "delete it to resume from the previous one")


def _check_layout(path: str, state: Any) -> None:
    if not isinstance(state, dict) or state.get("format_version") not in READABLE_VERSIONS:
        found = state.get("format_version") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {path!r} is not a specdiff checkpoint (format "
                              f"{' or '.join(map(str, READABLE_VERSIONS))} expected, found {found!r})")
    if not isinstance(state.get("step"), int):
        raise CheckpointError(f"checkpoint {path!r} has no integer 'step'")
    for key in ("model", "ema"):
        weights = state.get(key)
        if not isinstance(weights, Mapping) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
            raise CheckpointError(f"checkpoint {path!r}: {key!r} must be a state dict (names -> tensors)")


def _format1_globals() -> list[Any]:
    """What a format-1 checkpoint holds besides plain data: numpy arrays and scalars (its RNG state). Rebuilding
    them only makes arrays from bytes; the unpickler stays restricted for everything inside them."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray

    out: list[Any] = [np.ndarray, np.dtype] + [type(np.dtype(code)) for code in "?bBhHiIlLqQefd"]
    for fn in (multiarray._reconstruct, multiarray.scalar):
        out += [fn, (fn, f"numpy.core.multiarray.{fn.__name__}")]  # numpy 1.x wrote numpy.core
    return out


def convert_checkpoint(path: str) -> str:
    """Rewrites a format-1 checkpoint at ``path`` as format 2 (plain data) and returns where the original is kept
    (``<path>.format1``). The file is read with ``weights_only=True`` plus numpy's array and scalar rebuilders only,
    so a file holding anything else is refused here too. A file that already loads as format 2 is left alone
    (returns ``path``)."""
    try:
        load_checkpoint(path)
        return path
    except CheckpointError as exc:
        if "refused" not in str(exc):
            raise
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(_format1_globals()):
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        names = [n for n in _refused_globals(path, exc) if not n.startswith("numpy.")]
        raise CheckpointError(f"not converting {path!r}: it holds {', '.join(names[:5]) or 'objects'}, which no "
                              "specdiff checkpoint holds; do not load this file") from None
    except Exception as exc:
        raise CheckpointError(_corrupt(path, exc)) from None
    if not isinstance(state, dict) or state.get("format_version") != 1:
        found = state.get("format_version") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {path!r} is not a format-1 specdiff checkpoint (found {found!r})")
    state = to_plain({**state, "format_version": FORMAT_VERSION})
    _check_layout(path, state)
    backup = path + ".format1"
    with open(path, "rb") as src, atomic_open(backup, "wb") as dst:
        shutil.copyfileobj(src, dst)
    atomic_save(path, lambda f: torch.save(state, f))
    return backup


def latest_checkpoint(folder: str) -> tuple[int, str] | None:
    """The newest complete checkpoint in ``folder``, or None. Temp files (a checkpoint being written, or one a
    killed writer left) are never checkpoints; only the process that holds the run removes them (the trainer calls
    ``fileio.remove_stale_temps`` under the run's claim), so reading a live run never disturbs its writer."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_weights_fit(path: str, weights: Mapping[str, Any], model: torch.nn.Module, model_name: str) -> None:
    """CheckpointError (one line) unless ``weights`` (a state dict from checkpoint ``path``) has exactly the
    names and shapes of ``model``'s: a checkpoint written for another architecture than the run's config."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    shapes = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in weights and getattr(weights[k], "shape", None) != v.shape]
    if missing or unexpected or shapes:
        found = (f"lack {len(missing)} the model has (e.g. {missing[0]})" if missing else
                 f"have {len(unexpected)} the model lacks (e.g. {unexpected[0]})" if unexpected else
                 f"have {len(shapes)} of other shapes (e.g. {shapes[0]}, checkpoint vs config)")
        raise CheckpointError(f"checkpoint {path!r} does not fit the run's config.yaml (model {model_name}): "
                              f"its weights {found}; it was written for another architecture")
