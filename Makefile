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

# The main job end to end on this machine: a tiny random SDXL-Lightning-style pipeline (made by
# tools/make_tiny_sdxl.py) -> `sdxl-tigris generate` -> out/demo/demo.png.
DEMO_DIR ?= out/demo
demo: build
	@test -f $(DEMO_DIR)/tiny-lightning/model_index.json || \
	  $(PYTHON) tools/make_tiny_sdxl.py --config lightning $(DEMO_DIR)/tiny-lightning
	$(BUILD)/sdxl-tigris generate --model $(DEMO_DIR)/tiny-lightning \
	  --prompt "a watercolor painting of a lighthouse at dawn" --seed 42 --width 256 --height 256 \
	  --out $(DEMO_DIR)/demo.png
	@echo "demo image: $(abspath $(DEMO_DIR)/demo.png) (random tiny weights: expect colourful noise)"
	@echo "real SDXL-Lightning: prepare it once with \`sdxl-tigris prepare-model ByteDance/SDXL-Lightning ...\`"
	@echo "  (or any local diffusers SDXL folder), then on a GPU:"
	@echo "  $(BUILD)/sdxl-tigris generate --model <folder> --prompt \"A girl smiling\" --steps 4 --guidance 0 --out girl.png"

bench-inference: build
	$(PYTHON) bench/inference/run.py --binary $(BUILD)/sdxl-tigris

clean:
	rm -rf $(BUILD)

bench-prepare: build
	$(PYTHON) bench/prepare/run.py --binary $(BUILD)/sdxl-tigris
