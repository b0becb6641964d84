# make demo   : create or reuse .venv, install specdiff (compiling the kernels), run `specdiff demo` (~5 min)
# make test   : create or reuse .venv, install specdiff (compiling the kernels), run the tests
# make bench  : run the op benchmark suite for real with the default allocator (BENCH_ARGS="--benchmark-autosave"
#               to save a baseline, BENCH_ARGS="--benchmark-compare --benchmark-compare-fail=median:10%" to compare;
#               BENCH_ENV="LD_PRELOAD=$(TCMALLOC)" for a tcmalloc run, a second column at most)
# make gpu-check : on a machine with an NVIDIA GPU, nvcc and a CUDA build of torch (TORCH_SPEC below): build
#                  the CUDA kernels, run the op tests and the CUDA op benchmark (scripts/gpu_check.sh; the log
#                  goes to results/gpu_check.txt, the timings to results/gpu_bench.{json,md}). Not in `make test` / CI.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel on these machines; override e.g. TORCH_SPEC="torch==2.13.0 --index-url ..." for CUDA.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
BENCH_ARGS ?=
BENCH_ENV ?=
TCMALLOC := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/libtcmalloc_minimal.so.4))

.PHONY: install build test demo bench gpu-check clean

$(VENV)/.deps: pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install "setuptools>=77" wheel ninja
	# Dependencies and the editable install; the kernels are compiled by `build` (ninja, kept in build/ so
	# later runs recompile only what changed). `pip install --no-build-isolation -e .` alone also compiles.
	SPECDIFF_NO_EXT=1 $(PY) -m pip install --no-build-isolation -e ".[dev,photos]"
	touch $@

install: $(VENV)/.deps

# Incremental (ninja) rebuild of specdiff._C after any change under csrc/.
build: install
	$(PY) setup.py -q build_ext --inplace

demo: build
	$(VENV)/bin/specdiff demo

# The benchmark suite runs once with tiny shapes (--benchmark-disable) so it cannot rot.
test: build
	$(PY) -m pytest -q tests benchmarks --benchmark-disable $(PYTEST_ARGS)

bench: build
	$(BENCH_ENV) $(PY) -m pytest benchmarks --benchmark-only --benchmark-group-by=group $(BENCH_ARGS)

gpu-check: install
	PYTHON=$(PY) scripts/gpu_check.sh results

clean:
	rm -rf build build-cmake specdiff/_C*.so *.egg-info
