"""Recording the ops a piece of code dispatches (tests/ is on sys.path through tests/conftest.py)."""

from __future__ import annotations

from torch.utils._python_dispatch import TorchDispatchMode

# What .item(), float(t), bool(t) / `if t:` and .tolist() dispatch to: each one waits for the device.
HOST_SYNC_OPS = {"aten::_local_scalar_dense", "aten::is_nonzero", "aten::item", "aten::equal"}


class RecordOps(TorchDispatchMode):
    """Records the name of every op dispatched inside the ``with`` block."""

    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.name())
        return func(*args, **(kwargs or {}))

    def count(self, name: str) -> int:
        """Calls of op ``name`` (any overload)."""
        return sum(n.split(".")[0] == name for n in self.names)

    def host_syncs(self) -> list[str]:
        return [n for n in self.names if n.split(".")[0] in HOST_SYNC_OPS]
