"""Files in and out. Writes are atomic: a reader (or a run killed mid-write) sees the old file or the new one, never a
torn one. YAML is read with :func:`read_yaml` / :func:`safe_yaml_load`: safe tags only, no aliases, bounded size."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import numpy as np
import yaml

from specdiff.errors import InvalidValue

# Configs and study files are a few KiB; anything near this is not one (and would take long to parse).
MAX_YAML_BYTES = 1 << 20


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases (``*name``, hence also ``<<: *name`` merges). An alias reuses a
    node, so a few nested ones describe an exponentially large document ("billion laughs"); specdiff's YAML
    files never need them, so none is accepted rather than some within a budget."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"found the alias *{event.anchor}: specdiff YAML files may not use aliases "
                "(&anchor / *alias); write the values out", event.start_mark)
        return super().compose_node(parent, index)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: its problem and, when known, the line and column."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        return exc.problem + (f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else "")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def safe_yaml_load(text: str) -> Any:
    """``yaml.safe_load`` of ``text`` without aliases; raises ``yaml.YAMLError`` (one line from
    :func:`yaml_problem`), or ValueError for a document nested too deeply to parse."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None


def read_yaml(path: str | os.PathLike, limit: int = MAX_YAML_BYTES) -> Any:
    """The YAML document in the file ``path`` (see :func:`safe_yaml_load`). Raises FileNotFoundError,
    IsADirectoryError or another OSError; ValueError for a file over ``limit`` bytes, not UTF-8, or nested too
    deeply; ``yaml.YAMLError`` for invalid YAML or an alias."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit // 1024} KiB (a YAML config or study is a few KiB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    return safe_yaml_load(text)


def plain(value: Any) -> Any:
    """``value`` as the built-in types YAML and JSON write: mappings become dicts with string keys, lists and tuples
    lists, numpy scalars Python numbers (configs, study files and their resolved copies)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
PLAIN_NAME_RULE = ("1-128 characters from A-Z a-z 0-9 . _ + -, starting with a letter or digit "
                   "(one folder name, no path)")


def is_plain_name(name: Any) -> bool:
    """Whether ``name`` can name one file or folder inside a chosen folder (:data:`PLAIN_NAME_RULE`: no ``..``,
    separators, absolute paths or control characters)."""
    return isinstance(name, str) and _PLAIN_NAME.fullmatch(name) is not None


def check_plain_name(name: Any, what: str) -> str:
    """``name`` when it is a plain name (:func:`is_plain_name`); InvalidValue (a ValueError) naming ``what``
    otherwise."""
    if not is_plain_name(name):
        raise InvalidValue(f"{what} {name!r} is not a plain name: use {PLAIN_NAME_RULE}")
    return name


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Opens a temporary file next to ``path``; on a clean exit it is flushed, fsynced and renamed over ``path``
    (``os.replace`` is atomic on POSIX), on an exception it is removed. Temp names start with ``.`` and end
    with ``.tmp`` so directory scans can skip them."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp creates 0600; give the file the permissions open() would (0666 minus the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_save(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Binary variant: ``write(f)`` fills the temp file (e.g. ``lambda f: torch.save(obj, f)``)."""
    with atomic_open(path, "wb") as f:
        write(f)


def remove_stale_temps(folder: str | os.PathLike) -> list[str]:
    """Deletes temp files that a killed writer left in ``folder``; returns their names."""
    removed = []
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))
                removed.append(name)
    return removed
