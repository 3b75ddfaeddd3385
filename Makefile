# mod-wasm build: the Rust workspace (runtime cdylib + CLI), the Apache module, the Wasm samples.
#
#   make            build everything (debug profile; `make PROFILE=release` for benchmarks)
#   make test       build, then run every test (Rust unit/integration tests + the e2e suite)
#   make up         build, then serve the hello sample with Apache on 127.0.0.1:8080

PROFILE ?= debug
CARGO_PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)
TARGET_DIR := $(CURDIR)/target/$(PROFILE)
BUILD := $(CURDIR)/build
APXS ?= apxs
WASM_CC ?= clang
WASM_CFLAGS ?= --target=wasm32-wasi -O2 -Wall -Werror

SAMPLE_C := $(wildcard samples/c/*.c)
TEST_C := $(wildcard tests/modules/*.c)
TEST_WAT := $(wildcard tests/modules/*.wat)
WASM := $(patsubst samples/c/%.c,$(BUILD)/wasm/%.wasm,$(SAMPLE_C)) \
        $(patsubst tests/modules/%.c,$(BUILD)/wasm/%.wasm,$(TEST_C)) \
        $(patsubst tests/modules/%.wat,$(BUILD)/wasm/%.wasm,$(TEST_WAT))

.PHONY: all rust mod_wasm wasm test test-rust test-e2e up lint clean

all: rust mod_wasm wasm

rust:
	cargo build --workspace $(CARGO_PROFILE_FLAG)

# The module links libwasm_runtime.so with an rpath, so Apache needs no LD_LIBRARY_PATH.
# apxs drops a lone -Wl,-rpath,DIR: it must be spelled -Wl,-Wl,-rpath,DIR.
mod_wasm: $(BUILD)/mod_wasm.so

$(BUILD)/mod_wasm.so: mod_wasm/mod_wasm.c runtime/include/wasm_runtime.h rust
	@mkdir -p $(BUILD)/apxs
	cp mod_wasm/mod_wasm.c $(BUILD)/apxs/
	cd $(BUILD)/apxs && $(APXS) -c -Wc,-Wall -Wc,-Werror -Wc,-Wextra -Wc,-Wno-unused-parameter \
		-I$(CURDIR)/runtime/include -L$(TARGET_DIR) -lwasm_runtime \
		-Wl,-Wl,-rpath,$(TARGET_DIR) mod_wasm.c >/dev/null
	cp $(BUILD)/apxs/.libs/mod_wasm.so $@.tmp && mv -f $@.tmp $@

wasm: $(WASM)

$(BUILD)/wasm/%.wasm: samples/c/%.c
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) -o $@ $<

$(BUILD)/wasm/%.wasm: tests/modules/%.c
	@mkdir -p $(dir $@)
	$(WASM_CC) $(WASM_CFLAGS) -o $@ $<

$(BUILD)/wasm/%.wasm: tests/modules/%.wat
	@mkdir -p $(dir $@)
	wat2wasm -o $@ $<

test: all test-rust test-e2e

test-rust:
	cargo test --workspace $(CARGO_PROFILE_FLAG)

test-e2e:
	MOD_WASM_PROFILE=$(PROFILE) python3 -m pytest -q tests/e2e

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

up: all
	$(TARGET_DIR)/mod-wasm up samples/hello/app.kdl

clean:
	rm -rf $(BUILD)
