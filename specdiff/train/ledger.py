"""The run ledger ``results/summary.csv``: one row per run, a stable header, appends serialised by a file lock;
and exclusive claims (``claim``) on the folders whose bookkeeping it records (run folders, study folders).

A row is complete when its line ends with a newline: a writer killed mid-row leaves an unterminated tail, which
the next writer cuts off (under the lock) and readers skip. Cells never hold newlines (errors are one line).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from specdiff.errors import InvalidValue, UserError

LEDGER_FIELDS = (
    "run_id", "status", "started", "model", "dataset", "steps", "batch_size", "seed", "final_loss",
    "loss_drop_per_second", "images_per_second", "images_per_second_wall", "spectral_op_time_s", "runtime_s",
    "backend", "device", "run_dir", "config_sha256", "loss_threshold_steps", "loss_threshold_seconds", "fit_k",
    "fit_r2",
)
"""New columns go at the end: a ledger written with an older header (a prefix of this one) keeps its header and
gets rows of its own columns (the run's metrics JSON has every value)."""


def append_row(results_dir: str, row: Mapping[str, Any], fields: tuple[str, ...] = LEDGER_FIELDS,
               name: str = "summary.csv") -> None:
    """Appends one row under an exclusive ``flock`` (so concurrent writers never interleave), writing the header
    when the file is new. A file with an older header (a prefix of ``fields``: columns were added since) keeps
    it and gets the row's values of those columns; any other header is an error, never silently extended."""
    unknown = set(row) - set(fields)
    if unknown:
        raise ValueError(f"ledger row has unknown fields {sorted(unknown)}; valid: {', '.join(fields)}")
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, name)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            _cut_torn_tail(f)
            f.seek(0)
            header = f.readline().decode()
            columns = header.rstrip("\r\n").split(",") if header else list(fields)
            if not header:
                f.write((",".join(fields) + "\n").encode())
            elif len(columns) > len(fields) or columns != list(fields[:len(columns)]):
                raise InvalidValue(f"{path} has a different header ({header.strip()!r}); expected {','.join(fields)}")
            buf = io.StringIO()
            csv.DictWriter(buf, fieldnames=columns, lineterminator="\n").writerow(
                {k: _cell(row.get(k)) for k in columns})
            f.write(buf.getvalue().encode())
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _cut_torn_tail(f) -> None:
    """Truncates an unterminated last line (a writer killed mid-row or mid-header) of the file open in ``f``
    (append mode, lock held), so the next row starts on a fresh line and the torn one is gone."""
    pos = f.seek(0, os.SEEK_END)
    if pos == 0:
        return
    f.seek(pos - 1)
    if f.read(1) == b"\n":
        return
    while pos > 0:
        step = min(pos, 65536)
        f.seek(pos - step)
        nl = f.read(step).rfind(b"\n")
        if nl >= 0:
            f.truncate(pos - step + nl + 1)
            return
        pos -= step
    f.truncate(0)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def read_rows(results_dir: str, name: str = "summary.csv") -> list[dict[str, str]]:
    """Rows of the ledger (empty when it does not exist yet). Torn rows are skipped: an unterminated last line
    (a killed writer), a row with missing cells, and a ``config_sha256`` that is not 64 hex digits (a row cut
    inside it and repaired by an older writer)."""
    path = os.path.join(results_dir, name)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        fcntl.flock(f, fcntl.LOCK_SH)
        try:
            text = f.read()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return [r for r in csv.DictReader(io.StringIO(complete_lines(text), newline="")) if is_whole_row(r)]


def complete_lines(text: str) -> str:
    """``text`` without an unterminated last line (a writer killed mid-row)."""
    return text if text.endswith("\n") else text[:text.rfind("\n") + 1]


def is_whole_row(row: Mapping[Any, Any]) -> bool:
    """False for a torn csv.DictReader row: missing or extra cells, or a ``config_sha256`` that is not 64 hex
    digits (a row cut inside it and repaired by an older writer)."""
    return (None not in row and all(v is not None for v in row.values())
            and (not row.get("config_sha256") or bool(_SHA256.fullmatch(row["config_sha256"]))))


class FolderInUse(UserError, FileExistsError):
    """Another live process holds the claim on a run or study folder."""


@contextlib.contextmanager
def claim(lock_path: str, what: str, wait: bool = False) -> Iterator[None]:
    """Holds an exclusive ``flock`` on ``lock_path`` (created if needed) for the ``with`` block. The kernel drops it
    when the holder dies, so a claim never outlives its process (kill -9 included). Busy: ``FolderInUse`` naming
    ``what`` and the holder's pid, or with ``wait`` block until the holder is done."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise FolderInUse(f"{what} is in use by another process{f' (pid {holder})' if holder else ''}; "
                              "wait for it to finish, or stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else value
