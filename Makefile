# sdxl-tigris developer entry points. `make deps` once, then `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
PYTHON ?= python3
CMAKE_FLAGS ?=
WITH_TORCH ?= ON

.PHONY: deps build test unit-test integration-test demo format format-check clean bench-transfer

deps:
	bash tools/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DSDXL_WITH_TORCH=$(WITH_TORCH) $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Every test: C++ unit tests (CTest), then integration/end-to-end tests (pytest) against a real
# SeaweedFS, the fault proxy, the fake Hugging Face Hub and the reference Python stack.
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	SDXL_BUILD_DIR=$(abspath $(BUILD)) $(PYTHON) -m pytest -q tests

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

clean:
	rm -rf $(BUILD)
