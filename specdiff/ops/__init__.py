"""Spectral ops: fused kernels with pure-PyTorch references (``<op>_reference``) as their specification."""

from specdiff.ops.frequency import frequency_radius
from specdiff.ops.spectral_filter2d import spectral_filter2d, spectral_filter2d_reference

__all__ = [
    "frequency_radius",
    "spectral_filter2d",
    "spectral_filter2d_reference",
]
