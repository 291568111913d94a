# fakescope: one-command setup, demo and tests on a fresh machine.
#   make demo            set up if needed, then run the main job on a clip built at run time
#   make demo VIDEO=x    ... on your own video
#   make test            set up if needed, then lint, type-check and run the tests
#   make test-quick      the same without slow tests
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fakescope-installed
VIDEO ?=
OUT ?= demo-output
PYTEST_ARGS ?=

.PHONY: setup demo test test-quick check lint typecheck benchmarks train-default train-avsync clean

setup: $(STAMP)

# Rebuilt only when the dependency declarations change; a re-run with all installed takes ~0 s.
$(STAMP): pyproject.toml constraints.txt requirements-nodeps.txt
	@command -v ffmpeg >/dev/null || { echo "installing ffmpeg (Debian)"; \
	  (apt-get update -qq && apt-get install -y -qq ffmpeg) >/dev/null || echo "warning: ffmpeg not installed (only some benchmarks need it)"; }
	@# the service's browser test drives Debian's chromium (Playwright's own download fails offline)
	@command -v chromium >/dev/null || { echo "installing chromium (Debian, for the browser test)"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null || echo "warning: chromium not installed (the browser test will skip)"; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	@# torch first, from the pair that lies on this machine's disk (see constraints.txt)
	$(PY) -m pip install -q -c constraints.txt torch torchvision
	$(PY) -m pip install -q -c constraints.txt -e ".[all,dev]"
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)
	@echo "fakescope is set up in $(VENV)"

demo: setup
	@$(PY) -m fakescope.demo $(if $(VIDEO),--video "$(VIDEO)") --out "$(OUT)"

check: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

test: check
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-quick: setup
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

benchmarks: setup
	$(PY) benchmarks/extract_speed.py
	$(PY) benchmarks/index_speed.py
	$(PY) benchmarks/scan_speed.py
	$(PY) benchmarks/forensics_speed.py
	$(PY) benchmarks/accuracy.py
	$(PY) benchmarks/robustness.py
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/generalisation.py

# Reproduce the shipped default detector from scratch on a CPU (needs ../shared/data): data,
# faces, training, calibration on val (frame-level temperature, as the shipped v1;
# `--level video` is the new default of `fakescope calibrate`), evaluation on test, packaging with the card.
# DEFAULT_CANDIDATE names its recipe's row in benchmarks/results/generalisation.json.
DEFAULT_RUN := runs/default
DEFAULT_CANDIDATE := v1-mix-lite0
train-default: setup
	@date +%s > $(DEFAULT_RUN).started 2>/dev/null || (mkdir -p runs && date +%s > $(DEFAULT_RUN).started)
	$(PY) scripts/default_data.py --out $(DEFAULT_RUN)/data/manifest.parquet
	$(VENV)/bin/fakescope extract $(DEFAULT_RUN)/data/manifest.parquet --out $(DEFAULT_RUN)/crops --frames 16 --workers 2 -q
	$(VENV)/bin/fakescope train configs/default.yaml
	$(VENV)/bin/fakescope calibrate --model $(DEFAULT_RUN)/best --manifest $(DEFAULT_RUN)/data/manifest.parquet --split val --level frame --out $(DEFAULT_RUN)/calibrated --cache $(DEFAULT_RUN)/crops/cache
	$(VENV)/bin/fakescope evaluate --model $(DEFAULT_RUN)/calibrated --manifest $(DEFAULT_RUN)/data/manifest.parquet --split test --out $(DEFAULT_RUN)/eval --cache $(DEFAULT_RUN)/crops/cache
	$(PY) scripts/package_default.py --checkpoint $(DEFAULT_RUN)/calibrated --eval $(DEFAULT_RUN)/eval --log $(DEFAULT_RUN)/log.csv --candidate $(DEFAULT_CANDIDATE)
	@echo "train-default took $$(( ($$(date +%s) - $$(cat $(DEFAULT_RUN).started)) / 60 )) min"

# The shipped audio-visual sync model (issue 13): real talking heads with speech from
# ../shared/data/wild only, pseudo-fakes on the fly; the benchmark cross-validates the recipe
# (5 trainings); ~30-40 min on 2 shared CPU cores, most of it scoring the held-out versions.
AVSYNC_RUN := runs/avsync
train-avsync: setup
	$(PY) scripts/avsync_data.py --out $(AVSYNC_RUN)/data/manifest.parquet
	nice $(VENV)/bin/fakescope extract $(AVSYNC_RUN)/data/manifest.parquet --out $(AVSYNC_RUN)/crops10 --sampling fps:10 --size 128 --workers 1 -q
	rm -rf $(AVSYNC_RUN)/best $(AVSYNC_RUN)/log.csv
	OMP_NUM_THREADS=1 nice $(VENV)/bin/fakescope train configs/avsync.yaml
	@# the recipe cross-validated over identity groups (5 trainings), then these weights on their own test split
	OMP_NUM_THREADS=1 nice $(PY) benchmarks/av_sync.py --model $(AVSYNC_RUN)/best --crops $(AVSYNC_RUN)/crops10
	$(PY) scripts/package_avsync.py --checkpoint $(AVSYNC_RUN)/best --bench benchmarks/results/av_sync.json

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache demo-output
