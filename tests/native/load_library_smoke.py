"""Loads a standalone build of the kernels (CMake's _C.abi3.so) and checks spectral_filter2d against its
reference on an odd size. Usage: python load_library_smoke.py PATH/_C.abi3.so"""

import sys

import torch


def main(path: str) -> None:
    torch.ops.load_library(path)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 7, dtype=torch.float64, generator=gen)
    weight = torch.randn(3, 9, 4, dtype=torch.complex128, generator=gen)
    got = torch.ops.specdiff.spectral_filter2d(x, weight)
    want = torch.fft.irfft2(torch.fft.rfft2(x, norm="ortho") * weight, s=(9, 7), norm="ortho")
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    print(f"ok: {path} (cpu isa {torch.ops.specdiff._cpu_isa()})")


if __name__ == "__main__":
    main(sys.argv[1])
