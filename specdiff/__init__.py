"""specdiff: frequency-domain diffusion models with fused C++/CUDA spectral kernels."""

__version__ = "0.1.0"
