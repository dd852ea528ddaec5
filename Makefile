# Convenience entry points; the build itself is CMake (see CMakeLists.txt).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build run test clean format

deps:
	./.ci/install-deps

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# Builds, then runs the daemon on its defaults in the foreground (Ctrl-C stops it).
run: build
	./$(BUILD)/daemon/taskpoold

# Builds, then runs every test (unit, integration, cli).
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
