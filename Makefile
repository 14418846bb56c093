# Makefile - the two commands of the README: `make run` and `make check`
BUILD ?= build
MESON_OPTS ?=

.PHONY: all deps build run check asan clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

# The daemon in the foreground on the bundled demo configuration (offline).
run: build
	STATE_DIRECTORY=$(CURDIR)/$(BUILD)/demo-state VIGIL_PLUGIN_DIR=$(CURDIR)/$(BUILD)/plugins \
		$(BUILD)/daemon/vigild -c etc/demo/vigil.yaml

check: build
	meson test -C $(BUILD) --print-errorlogs

# Every suite but the slow valgrind setup again under AddressSanitizer + UBSan.
asan: deps
	[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true
	meson compile -C build-asan
	meson test -C build-asan --print-errorlogs --suite unit --suite abi --suite plugins --suite integration --suite conformance --suite fuzz

clean:
	rm -rf $(BUILD) build-asan
