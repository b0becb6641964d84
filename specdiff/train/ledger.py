"""The run ledger ``results/summary.csv``: one row per run, a stable header, appends serialised by a file lock."""

from __future__ import annotations

import csv
import fcntl
import io
import os
from collections.abc import Mapping
from typing import Any

LEDGER_FIELDS = (
    "run_id", "status", "started", "model", "dataset", "steps", "batch_size", "seed", "final_loss",
    "loss_drop_per_second", "images_per_second", "images_per_second_wall", "spectral_op_time_s", "runtime_s",
    "backend", "device", "run_dir", "config_sha256",
)


def append_row(results_dir: str, row: Mapping[str, Any], fields: tuple[str, ...] = LEDGER_FIELDS,
               name: str = "summary.csv") -> None:
    """Appends one row under an exclusive ``flock`` (so concurrent writers never interleave), writing the header
    when the file is new. A file whose header differs from ``fields`` is an error, never silently extended."""
    unknown = set(row) - set(fields)
    if unknown:
        raise ValueError(f"ledger row has unknown fields {sorted(unknown)}; valid: {', '.join(fields)}")
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, name)
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=fields, lineterminator="\n").writerow({k: _cell(row.get(k)) for k in fields})
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            header = f.readline().decode()
            if not header:
                f.write((",".join(fields) + "\n").encode())
            elif header.rstrip("\r\n").split(",") != list(fields):
                raise ValueError(f"{path} has a different header ({header.strip()!r}); expected {','.join(fields)}")
            else:
                # A writer killed mid-line left no newline: start on a fresh line so rows never merge.
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write(buf.getvalue().encode())
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_rows(results_dir: str, name: str = "summary.csv") -> list[dict[str, str]]:
    """Rows of the ledger (empty when it does not exist yet); a torn last line (killed writer) is skipped."""
    path = os.path.join(results_dir, name)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        fcntl.flock(f, fcntl.LOCK_SH)
        try:
            rows = list(csv.DictReader(f))
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return [r for r in rows if None not in r and all(v is not None for v in r.values())]


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else value
