# Thin front end to CMake. See README.md.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build test test-release test-asan fuzz format format-check demo clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DIG_WERROR=ON >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

test: deps
	@scripts/test.sh

fuzz: deps
	@scripts/fuzz.sh

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

demo: build
	@BUILD=$(BUILD) scripts/demo.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
