# The README's two commands: `make demo` (the main job) and `make test` (the test suite).
.PHONY: demo test bench deps

deps:
	@bash scripts/install-deps.sh

# Simulate a FAST-style observation with a pulsar, search it, print the candidates.
demo: deps
	@echo "Building tianyan in release mode (the first build compiles every dependency: several minutes on 2 cores)..."
	cargo build --release
	./target/release/tianyan demo

# Every test: unit, integration, detection accuracy, real-data fixtures (../shared/data or $$TIANYAN_DATA).
test:
	@bash scripts/install-deps.sh --python
	@echo "Building and running every test (the first run compiles everything again in the test profile; see README)..."
	cargo test --no-fail-fast

bench: deps
	cargo bench
