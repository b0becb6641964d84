"""Errors in what the user gave: a file, a folder, a flag, a config value, a name, or a run that cannot go on for a
reason the user can act on.

Every one is a :class:`UserError`, whose message is one line saying what is wrong and what is allowed. ``specdiff``
prints it without a traceback and exits with its ``exit_status`` (2 for config errors, 1 otherwise); any other
exception is a bug in specdiff and keeps its traceback. The subclasses also derive from the built-in type a
Python caller would expect (``ValueError``, ``FileNotFoundError``, ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user gave is wrong, or a run cannot go on for a reason the user can act on (one line)."""

    exit_status = 1


class InvalidValue(UserError, ValueError):
    """A value the user gave (an option, a name, a file's contents) is not allowed."""


class MissingPath(UserError, FileNotFoundError):
    """A file or folder the user named (or one that a run folder should hold) does not exist."""


class PathExists(UserError, FileExistsError):
    """A file or folder that would be overwritten exists already."""


class Unavailable(UserError, RuntimeError):
    """What the user asked for cannot run here: a kernel this build or device lacks, a process that could not
    start its part of a run."""
