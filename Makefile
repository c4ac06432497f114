# Every target works on a fresh machine: uv is installed with pip if it is missing,
# and the locked environment is synced before anything runs.
.PHONY: demo test integration_tests lint format type bench docs clean

UV := $(shell sh scripts/find_uv.sh)
ifeq ($(UV),)
$(error no uv: scripts/find_uv.sh could not find or install it)
endif
RUN := $(UV) run --locked

demo:
	$(RUN) --extra local python scripts/demo.py

test:
	$(RUN) pytest tests

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

bench:
	$(RUN) --group bench python benchmarks/bench.py

docs:
	$(RUN) --group docs pdoc --docformat google --output-directory site langchain_nebula langchain_nebula.catalog langchain_nebula.local
	@echo "API reference written to site/index.html"

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache site
