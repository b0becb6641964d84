"""Prints the deterministic samplers' RMS error against the exact Gaussian-oracle ODE solution as Markdown.

``python scripts/sampler_oracle.py``. The measurement is tests/diffusion/oracle_table.py, the one the tests assert
(tests/diffusion/test_samplers.py), so the printed figures are the tested ones. CPU, float64, a few seconds.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "diffusion"))

from oracle_table import markdown, measure  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)
    print(markdown(measure()))
