# Set-up and everyday tasks. On a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install dev demo test soak bench clean system-deps

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[examples]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

## The main job end to end on generated data: snapshot, status, log, diff, checkout.
demo: $(VENV)/.installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh

## What the suite needs from the system: Debian's Chromium and its driver (the browser
## tests of tests/browser drive /usr/bin/chromium; nothing is downloaded by Playwright).
## Installed as root when missing, a no-op when present.
system-deps:
	command -v chromium >/dev/null && command -v java >/dev/null || apt-get update -q
	command -v chromium >/dev/null || apt-get install -y -q chromium chromium-driver
	command -v java >/dev/null || apt-get install -y -q openjdk-17-jre-headless

## The whole suite, S3 tests against a real SeaweedFS and browser tests in Chromium
## included. pytest's own exit code is kept: "no tests ran" (5) fails the target like any failure.
test: system-deps $(VENV)/.dev-installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -n auto -q $(PYTEST_ARGS)

## Long fuzzing and soak loops (random kills repeated, 20,000 examples per property);
## far longer than `make test`, and not part of it.
soak: $(VENV)/.dev-installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" HYPOTHESIS_PROFILE=soak $(PY) -m pytest -n auto -q -m "soak or not soak" tests/reliability $(PYTEST_ARGS)

bench: $(VENV)/.dev-installed
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) benchmarks/snapshot_vs_dvc.py

clean:
	rm -rf $(VENV) build .pytest_cache
