# The README's two commands: `make demo` (the main job) and `make test` (the test suite).
.PHONY: demo test bench deps

deps:
	@bash scripts/install-deps.sh

# Simulate a FAST-style observation with a pulsar, search it, print the candidates.
demo: deps
	cargo run --release --quiet -- demo

# Every test: unit, integration, detection accuracy, real-data fixtures (../shared/data or $$TIANYAN_DATA).
test:
	@bash scripts/install-deps.sh --python
	cargo test --no-fail-fast

bench: deps
	cargo bench
