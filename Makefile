# pg-hardening: every target installs what it needs (Debian packages, Docker engine, venv,
# test images) and is safe to run again.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: demo test lint typecheck bench system engine venv images clean

demo: system venv engine  ## hardening end to end on a throwaway PostgreSQL 15 (KEEP=1 keeps it)
	$(PY) scripts/demo.py --backend "$$(cat .state/backend)" $(if $(KEEP),--keep,)

test: system venv engine  ## ruff, mypy --strict, and the suite on PostgreSQL 15 and 17
	scripts/test.sh

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

bench: system venv engine  ## encrypted columns vs plaintext, pgaudit's cost, verify at scale; 15 and 17
	$(PY) -m bench encryption --backend "$$(cat .state/backend)"
	$(PY) -m bench audit --backend "$$(cat .state/backend)"
	$(PY) -m bench verify-scale --backend "$$(cat .state/backend)"

system:
	scripts/ensure-system.sh

engine: venv  ## the images are built by the kit itself (hardening testing-image build)
	scripts/ensure-docker.sh

images: engine

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	mkdir -p .state
	$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install -e ".[test]" >.state/pip.log 2>&1 \
		|| { tail -n 40 .state/pip.log; echo "venv: pip install failed (.state/pip.log)"; exit 1; }
	@echo "venv: .venv ready ($$($(PY) -m pip --version | cut -d' ' -f1-2))"
	touch $@

clean:
	rm -rf $(VENV) .state .mypy_cache .ruff_cache .pytest_cache *.egg-info
