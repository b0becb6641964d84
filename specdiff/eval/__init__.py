"""Evaluation of generated images: paired metrics (MSE, MAE, PSNR, SSIM, LPIPS), distribution metrics (FID, KID
through torchmetrics with an offline or Inception feature extractor) and weight-free spectral metrics."""

from specdiff.eval.distribution import extract_features, frechet_distance, kernel_distance, kid_subset_size
from specdiff.eval.evaluate import (
    DEFAULT_METRICS,
    METRICS,
    PAIRED_METRICS,
    evaluate,
    load_images,
    resolve_metrics,
    update_metadata,
    write_metrics,
)
from specdiff.eval.features import INCEPTION_ENV, FilterBankExtractor, InceptionExtractor, build_feature_extractor
from specdiff.eval.paired import DATA_RANGE, mae, mse, psnr, ssim
from specdiff.eval.perceptual import lpips_distance, lpips_unavailable_reason
from specdiff.eval.spectral import (
    BAND_EDGES,
    BANDS,
    band_energy,
    band_error,
    band_power_db,
    mean_log_spectrum,
    radial_power_spectrum,
    spectral_distance,
)

__all__ = [
    "BANDS",
    "BAND_EDGES",
    "DATA_RANGE",
    "DEFAULT_METRICS",
    "INCEPTION_ENV",
    "METRICS",
    "PAIRED_METRICS",
    "FilterBankExtractor",
    "InceptionExtractor",
    "band_energy",
    "band_error",
    "band_power_db",
    "build_feature_extractor",
    "evaluate",
    "extract_features",
    "frechet_distance",
    "kernel_distance",
    "kid_subset_size",
    "load_images",
    "lpips_distance",
    "lpips_unavailable_reason",
    "mae",
    "mean_log_spectrum",
    "mse",
    "psnr",
    "radial_power_spectrum",
    "resolve_metrics",
    "spectral_distance",
    "ssim",
    "update_metadata",
    "write_metrics",
]
