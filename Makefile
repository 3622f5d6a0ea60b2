# `make demo` and `make test` each set up everything on a fresh machine, then do their job.
# A stamp file makes the set-up a no-op once the environment matches pyproject.toml.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch, installed first with this exact pin: a looser requirement resolves
# to the registry's newest release with several GB of CUDA packages.
TORCH_PIN := torch==2.13.0
# Test-only reference implementations that tests/compare checks the metrics against. --no-deps:
# they require torchvision, whose only build here needs CUDA torch; the tests import them without it.
REFERENCE_LIBS := pytorch-fid==0.3.0 torch-fidelity==0.4.0 torchmetrics==1.9.0 lightning-utilities==0.15.3
# The frd extra (FRD v1): pyradiomics-bhklab is a source package whose setup.py imports these
# without declaring them, so they come first and the extra is built without build isolation.
FRD_BUILD_INPUTS := setuptools wheel numpy PyWavelets pykwalify six versioneer

.PHONY: demo dashboard test install clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q $(FRD_BUILD_INPUTS)
	$(BIN)/python -m pip install -q --no-build-isolation -e '.[test,frd]'
	$(BIN)/python -m pip install -q --no-deps $(REFERENCE_LIBS)
	$(BIN)/python -m pip install -q packaging typing_extensions
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m app.demo

# The dashboard on the demo's products; the admin pages ask for the password that `make demo`
# wrote to runs/demo/admin-password.txt (mode 600). Readers use the links in runs/demo/readers.txt.
dashboard: $(STAMP)
	$(BIN)/usapp --db sqlite:///runs/demo/study.db --results runs/demo/results.nc \
		--admin-password-file runs/demo/admin-password.txt

# Two workers (pytest-xdist), one test file each at a time: about half the suite's time waits on
# browsers, subprocesses and single-threaded steps, so two files share two cores well (measured
# 2026-12-02: 12.5 min in one process, 10.3 min in two).
test: $(STAMP)
	bash tests/setup_browser.sh
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) runs/demo .pytest_cache
