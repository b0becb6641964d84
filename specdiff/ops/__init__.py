"""Spectral ops: fused kernels with pure-PyTorch references (``<op>_reference``) as their specification."""

from specdiff.ops.band import BAND_KINDS, band_mask_reference
from specdiff.ops.complex_conv2d import complex_conv2d, complex_conv2d_reference
from specdiff.ops.complex_conv_transpose2d import complex_conv_transpose2d, complex_conv_transpose2d_reference
from specdiff.ops.complex_norm_act import complex_norm_act, complex_norm_act_reference
from specdiff.ops.frequency import frequency_radius, radius_bins, ring_index
from specdiff.ops.group_norm_silu import group_norm_silu, group_norm_silu_reference
from specdiff.ops.spectral_band_filter2d import spectral_band_filter2d, spectral_band_filter2d_reference
from specdiff.ops.spectral_band_mse import spectral_band_mse, spectral_band_mse_reference
from specdiff.ops.spectral_band_weight import spectral_band_weight, spectral_band_weight_reference
from specdiff.ops.spectral_conv2d import spectral_conv2d, spectral_conv2d_reference
from specdiff.ops.spectral_filter2d import spectral_filter2d, spectral_filter2d_reference

__all__ = [
    "BAND_KINDS",
    "band_mask_reference",
    "complex_conv2d",
    "complex_conv2d_reference",
    "complex_conv_transpose2d",
    "complex_conv_transpose2d_reference",
    "complex_norm_act",
    "complex_norm_act_reference",
    "frequency_radius",
    "group_norm_silu",
    "group_norm_silu_reference",
    "radius_bins",
    "ring_index",
    "spectral_band_filter2d",
    "spectral_band_filter2d_reference",
    "spectral_band_mse",
    "spectral_band_mse_reference",
    "spectral_band_weight",
    "spectral_band_weight_reference",
    "spectral_conv2d",
    "spectral_conv2d_reference",
    "spectral_filter2d",
    "spectral_filter2d_reference",
]
