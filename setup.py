"""Builds specdiff._C: CPU kernels always, CUDA kernels when torch is a CUDA build and nvcc exists.

Environment:
  SPECDIFF_NO_EXT=1     skip the extension (the package runs on the pure-PyTorch reference path)
  SPECDIFF_FORCE_CUDA=1 build the CUDA sources even when torch.cuda is unavailable at build time
  DEBUG=1               -O0 -g
"""

import glob
import os
import shutil

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").lower() in ("1", "true", "yes", "on")


def _extensions():
    if _flag("SPECDIFF_NO_EXT"):
        return [], {}
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

    debug = _flag("DEBUG")
    with_cuda = _flag("SPECDIFF_FORCE_CUDA") or (
        torch.version.cuda is not None and CUDA_HOME is not None and shutil.which("nvcc") is not None
    )

    def rel(pattern):
        return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))

    sources = (rel("csrc/*.cpp") + rel("csrc/ops/*.cpp") + rel("csrc/cpu/*.cpp") + rel("csrc/cpu/lanes/*.cpp")
               + rel("csrc/common/*.cpp"))
    opt = ["-O0", "-g"] if debug else ["-O3"]
    cxx = opt + ["-std=c++17", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-Wno-psabi", "-DSPECDIFF_WITH_CPU"]
    nvcc = opt + ["-std=c++17", "--expt-relaxed-constexpr", "-lineinfo"]
    define_macros = [("Py_LIMITED_API", "0x03090000")]
    kwargs = dict(
        name="specdiff._C",
        sources=sources,
        include_dirs=[os.path.join(ROOT, "csrc")],
        extra_link_args=["-fopenmp"],
        py_limited_api=True,
        define_macros=define_macros,
    )
    if with_cuda:
        # A .cpp and a .cu must not share a stem: setuptools names both objects <stem>.o.
        kwargs["sources"] = sources + rel("csrc/cuda/*.cpp") + rel("csrc/cuda/*.cu")
        kwargs["extra_compile_args"] = {"cxx": cxx + ["-DSPECDIFF_WITH_CUDA"], "nvcc": nvcc}
        ext = CUDAExtension(**kwargs)
    else:
        kwargs["extra_compile_args"] = {"cxx": cxx}
        ext = CppExtension(**kwargs)
    return [ext], {"build_ext": BuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = _extensions()
setup(
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    options={"bdist_wheel": {"py_limited_api": "cp39"}} if ext_modules else {},
)
