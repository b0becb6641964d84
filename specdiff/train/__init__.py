"""Training runs (``specdiff train``), their checkpoints and ledger, and sampling from them (``specdiff sample``)."""

from .checkpoint import CheckpointError, latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from .ledger import LEDGER_FIELDS, append_row, read_rows
from .sampling import load_model, sample_run
from .state import TrainState
from .trainer import TrainingDiverged, TrainResult, load_run_config, loss_drop_per_second, train

__all__ = [
    "LEDGER_FIELDS",
    "CheckpointError",
    "TrainResult",
    "TrainState",
    "TrainingDiverged",
    "append_row",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_model",
    "load_run_config",
    "loss_drop_per_second",
    "read_rows",
    "sample_run",
    "save_checkpoint",
    "train",
]
