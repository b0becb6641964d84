# make test   : create or reuse .venv, install specdiff (compiling the kernels), run the tests
# make bench  : run the op benchmark suite for real (BENCH_ARGS="--benchmark-autosave" to save a baseline,
#               BENCH_ARGS="--benchmark-compare --benchmark-compare-fail=median:10%" to compare)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel on these machines; override e.g. TORCH_SPEC="torch==2.13.0 --index-url ..." for CUDA.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
BENCH_ARGS ?=
TCMALLOC := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/libtcmalloc_minimal.so.4))

.PHONY: install build test bench clean

$(VENV)/.deps: pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install setuptools wheel ninja
	# Dependencies and the editable install; the kernels are compiled by `build` (ninja, kept in build/ so
	# later runs recompile only what changed). `pip install --no-build-isolation -e .` alone also compiles.
	SPECDIFF_NO_EXT=1 $(PY) -m pip install --no-build-isolation -e ".[dev]"
	touch $@

install: $(VENV)/.deps

# Incremental (ninja) rebuild of specdiff._C after any change under csrc/.
build: install
	$(PY) setup.py -q build_ext --inplace

# The benchmark suite runs once with tiny shapes (--benchmark-disable) so it cannot rot.
test: build
	$(PY) -m pytest -q tests benchmarks --benchmark-disable $(PYTEST_ARGS)

bench: build
	LD_PRELOAD=$(TCMALLOC) $(PY) -m pytest benchmarks --benchmark-only --benchmark-group-by=group $(BENCH_ARGS)

clean:
	rm -rf build specdiff/_C*.so *.egg-info
