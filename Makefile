# Convenience entry points; the build itself is CMake (see CMakeLists.txt).
BUILD ?= build
JOBS ?= $(shell nproc)
# Tests run twice as many at once as there are CPUs: most of their time they wait
# on the daemons they start (the full suite ran in 291 s, where it took 464 s a
# test a CPU).
TEST_JOBS ?= $(shell echo $$(( $$(nproc) * 2 )))
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: deps build run install test test-asan test-tsan fuzz dockerfile-check screenshots clean format

deps:
	./.ci/install-deps

# Each library and program compiles as a few unity files: a clean build takes
# half the time (CMAKE_FLAGS=-DCMAKE_UNITY_BUILD=OFF for a file at a time).
build: deps
	cmake -S . -B $(BUILD) -DCMAKE_UNITY_BUILD=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# Builds, then runs the daemon on its defaults in the foreground (Ctrl-C stops it).
run: build
	./$(BUILD)/daemon/taskpoold

# Builds, then installs taskpoold, taskpool, the plugin header and the config under
# PREFIX (/usr/local); DESTDIR, as usual, stages the install under another root.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# Builds, then runs every test (unit, integration, cli).
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 300

# The dashboard's browser test, saving its views at a fixed viewport into
# docs/images for docs/dashboard.md.
screenshots: build
	cd $(BUILD) && TASKPOOL_SCREENSHOTS=$(CURDIR)/docs/images ctest --output-on-failure -R '^browser\.'

# The suite again, built with sanitizers; any report fails its test. Both leave out
# the journal re-run of the integration cases: the one thread it adds, the
# journal's writer, and SQLite under it are the durability tests' own, which
# still run (kill -9, full disks, corrupt files), and its time is CI's to spend
# elsewhere. ASan keeps the cluster re-run, where the Redis client's buffers are.
# TSan leaves that out too: the cluster's Redis client runs on the io thread
# alone, and the cluster's own tests (nodes, redis) still run.
# ASan runs as many tests at once as `make test` does (463 s for its ctest, where
# one a CPU took 594); TSan, which keeps the CPUs busy, one a CPU.
test-asan: deps
	TEST_JOBS=$(TEST_JOBS) ./.ci/sanitized-tests address,undefined build-asan journal

test-tsan: deps
	./.ci/sanitized-tests thread build-tsan 'journal|cluster'

# The libFuzzer targets, all at once, for FUZZ_SECONDS (60) from their seed corpus.
fuzz:
	./.ci/fuzz

# The Dockerfile's stages run in a clean debootstrapped root, then smoke-tested
# (there is no Docker engine here).
dockerfile-check:
	./.ci/install-deps docker
	./.ci/dockerfile-check

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
