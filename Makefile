# sdxl-tigris developer entry points. `make deps` once, then `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
PYTHON ?= python3
CMAKE_FLAGS ?=
WITH_TORCH ?= ON
# Let ccache share objects between checkouts in different folders.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: deps build test unit-test integration-test demo format format-check clean bench-transfer bench-inference bench-prepare

deps:
	bash tools/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DSDXL_WITH_TORCH=$(WITH_TORCH) $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Every test: C++ unit tests (CTest), then integration/end-to-end tests (pytest) against a real
# SeaweedFS, the fault proxy, the fake Hugging Face Hub and the reference Python stack.
# Both write JUnit files into the build folder; CI checks their skips (tools/check_skips.py).
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) --output-junit $(abspath $(BUILD))/ctest-junit.xml
	SDXL_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -rs --junitxml=$(abspath $(BUILD))/pytest-junit.xml tests

unit-test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

integration-test: build
	SDXL_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q tests

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

format-check:
	git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror

bench-transfer: build
	$(PYTHON) bench/transfer/run.py --binary $(BUILD)/sdxl-tigris

# The main job end to end on this machine, with no cloud account (tools/demo_serve.py): a local
# SeaweedFS stands in for Tigris, `prepare-model` puts a tiny random SDXL-Lightning-style pipeline
# into it, `serve` boots from the bucket, the seed's example request returns a presigned URL and
# the image is fetched from it into out/demo/demo.png.
DEMO_DIR ?= out/demo
demo: build
	$(PYTHON) tools/demo_serve.py --binary $(BUILD)/sdxl-tigris --out $(DEMO_DIR)
	@echo "real SDXL-Lightning: \`sdxl-tigris prepare-model ByteDance/SDXL-Lightning <bucket>\`, then on a GPU"
	@echo "  host with the printed env: \`sdxl-tigris serve\` (README: Deployment)"

bench-inference: build
	$(PYTHON) bench/inference/run.py --binary $(BUILD)/sdxl-tigris

clean:
	rm -rf $(BUILD)

bench-prepare: build
	$(PYTHON) bench/prepare/run.py --binary $(BUILD)/sdxl-tigris

# Sanitizer builds (tools/run-sanitizers.sh, docs/testing.md "Sanitizers"): ASan+UBSan of every
# torch-free target with its unit tests and the integration tests that drive the binary, then TSan
# of the transfer engine, loader and server. `make sanitize SANITIZERS=tsan` for one.
.PHONY: sanitize kill-test
SANITIZERS ?= asan tsan
sanitize:
	bash tools/run-sanitizers.sh $(SANITIZERS)

# The SIGKILL tests with many more seeded kill points than `make test` runs (5 per writer).
KILL_POINTS ?= 40
kill-test: build
	SDXL_KILL_POINTS=$(KILL_POINTS) SDXL_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -rs \
	  tests/storage/test_kill_points.py tests/serve/test_serve_kill.py \
	  tests/loader/test_pull.py::test_sigkill_pull_at_random_points \
	  tests/prepare/test_prepare_model.py::test_sigkill_at_random_points_then_rerun

# The chaos soak (tests/serve/test_chaos_soak.py) for SOAK_SECONDS instead of `make test`'s 25 s.
.PHONY: soak
SOAK_SECONDS ?= 300
soak: build
	SDXL_SOAK_SECONDS=$(SOAK_SECONDS) SDXL_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -rs -s \
	  tests/serve/test_chaos_soak.py

# libFuzzer targets (fuzz/, docs/testing.md "Fuzzing"), each for FUZZ_SECONDS (CI runs 15 s each):
# `make fuzz`, or `make fuzz FUZZ_TARGETS=url_fuzz FUZZ_SECONDS=3600`. Needs clang.
.PHONY: fuzz
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?=
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tools/run-fuzz.sh $(FUZZ_TARGETS)
