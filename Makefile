# Every target works on a fresh machine: uv is installed with pip if it is missing,
# and the locked environment is synced before anything runs.
.PHONY: demo test test-ray test-pythons dist-check integration_tests lint format type bench bench-scale docs mutation transcripts clean

UV := $(shell sh scripts/find_uv.sh)
ifeq ($(UV),)
$(error no uv: scripts/find_uv.sh could not find or install it)
endif
RUN := $(UV) run --locked

demo:
	$(RUN) --extra local python scripts/demo.py

test:
	$(RUN) pytest tests

# Ray Data on a local two-worker cluster (tests/ray_tests): the `ray` dependency group
# (Ray, pyarrow, pandas: ~1 GB) goes into .venv-ray, so `make test` never installs it.
test-ray:
	UV_PROJECT_ENVIRONMENT=.venv-ray $(RUN) --group ray pytest tests/ray_tests

# The unit suite on the other supported Pythons (CI runs the full suite on 3.11).
test-pythons:
	@for version in 3.10 3.12 3.13; do \
	  python=$$(sh scripts/python_for.sh $$version) || exit 1; \
	  echo "== unit suite on Python $$version ($$python)"; \
	  UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=.venv-$$version \
	    $(UV) run --locked --python $$python pytest tests/unit_tests -q || exit 1; \
	done

# Build the sdist and wheel, check their metadata, and run README's quick start from
# the wheel installed with plain pip in a fresh venv, against a local test server.
dist-check:
	rm -rf dist .venv-wheel
	$(UV) build --out-dir dist
	$(UV) tool run --from 'twine>=6' twine check --strict dist/*
	python3 -m venv .venv-wheel
	.venv-wheel/bin/python -m pip install --quiet --disable-pip-version-check dist/*.whl
	$(RUN) python scripts/serve_for.py -- .venv-wheel/bin/python scripts/wheel_smoke.py README.md

integration_tests:
	$(RUN) pytest tests/integration_tests -m live -rs

lint:
	$(RUN) ruff check langchain_nebula tests benchmarks scripts examples
	$(RUN) ruff format --check langchain_nebula tests benchmarks scripts examples

format:
	$(RUN) ruff format langchain_nebula tests benchmarks scripts examples
	$(RUN) ruff check --fix langchain_nebula tests benchmarks scripts examples

type:
	$(RUN) mypy langchain_nebula

# The per-call/per-chunk benchmark (about 6 minutes), then N concurrent paced streams
# (about 5 minutes); QUICK=1 runs both as smoke runs (about 2 minutes).
bench:
	$(RUN) --group bench python benchmarks/bench.py $(if $(QUICK),--quick)
	$(RUN) --group bench python benchmarks/paced_streams.py $(if $(QUICK),--quick)

# One process vs a local Ray cluster, rows/s (docs/scale.md, "How fast").
bench-scale:
	UV_PROJECT_ENVIRONMENT=.venv-ray $(RUN) --group ray python benchmarks/scale.py

# Mutation testing of the pure modules and the I/O layer (configured in setup.cfg; not
# part of `make test`).
# A clean run each time: mutmut's cache notices changed source, not changed tests.
MUTMUT_VERSION := 3.8.1
MUTATION_CHILDREN ?= 2

mutation:
	rm -rf mutants
	$(RUN) --with mutmut==$(MUTMUT_VERSION) mutmut run --max-children $(MUTATION_CHILDREN)
	$(RUN) python scripts/mutation_report.py --fail-under 90

docs:
	$(RUN) --group docs pdoc --docformat google --output-directory site langchain_nebula langchain_nebula.catalog langchain_nebula.local
	@echo "API reference written to site/index.html"

transcripts:
	$(RUN) python scripts/record_transcripts.py

clean:
	rm -rf .venv .venv-3.* .venv-ray .venv-wheel .uv-bootstrap dist .pytest_cache .mypy_cache .ruff_cache site mutants
