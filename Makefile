# Every target works on a fresh machine: uv is installed with pip if it is missing,
# and the locked environment is synced before anything runs.
.PHONY: demo test integration_tests lint format type bench docs transcripts clean

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(shell python3 -m pip install --quiet --disable-pip-version-check uv >&2 && python3 -c "import uv; print(uv.find_uv_bin())")
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
	$(RUN) --group docs pdoc --docformat google --output-directory site langchain_nebula
	@echo "API reference written to site/index.html"

transcripts:
	$(RUN) python scripts/record_transcripts.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache site
