"""Training checkpoints ``checkpoints/step_<N>.pt``: written atomically, found by step, loaded with a clear error."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import torch

from specdiff.fileio import atomic_save, remove_stale_temps

FORMAT_VERSION = 1
_NAME = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (corrupt, truncated, or not a specdiff checkpoint)."""


def checkpoint_path(folder: str, step: int) -> str:
    return os.path.join(folder, f"step_{step}.pt")


def list_checkpoints(folder: str) -> list[tuple[int, str]]:
    """(step, path) of every ``step_<N>.pt`` in ``folder``, oldest first; temp files are not checkpoints."""
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), os.path.join(folder, n)) for n in os.listdir(folder) if (m := _NAME.match(n))]
    return sorted(found)


def save_checkpoint(folder: str, step: int, state: dict[str, Any]) -> str:
    """Writes ``state`` (plus the format version and step) to ``step_<step>.pt`` atomically; returns the path."""
    path = checkpoint_path(folder, step)
    payload = {"format_version": FORMAT_VERSION, "step": step, **state}
    atomic_save(path, lambda f: torch.save(payload, f))
    return path


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The state saved by :func:`save_checkpoint`; CheckpointError naming the file when it is unusable."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(
            f"checkpoint {path!r} is corrupt or not a specdiff checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); delete it to resume from the previous one"
        ) from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION or "model" not in state:
        raise CheckpointError(f"checkpoint {path!r} is not a specdiff checkpoint (format {FORMAT_VERSION} expected)")
    return state


def latest_checkpoint(folder: str) -> tuple[int, str] | None:
    """The newest checkpoint in ``folder`` (after removing temp files a killed writer left), or None."""
    remove_stale_temps(folder)
    found = list_checkpoints(folder)
    return found[-1] if found else None


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
