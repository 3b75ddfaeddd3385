# mod-wasm build: the Rust workspace (runtime cdylib + CLI), the Apache module, the Wasm samples.
#
#   make            build everything (release profile; `make PROFILE=debug` for a quicker build)
#   make components the WebAssembly components of the samples and tests (build/components/)
#   make php        php-cgi for WASI from Debian's PHP source (build/php/php-cgi.wasm, cached)
#   make test       build, then run every test (Rust unit/integration tests + the e2e suite)
#   make up         build, then serve the demo (samples/demo) with Apache on 127.0.0.1:8080
#   make deb        build, then the Debian packages libapache2-mod-wasm and mod-wasm in build/deb/
#
# One profile for everything: tests, the demo and the packages share one build of Wasmtime.

PROFILE ?= release
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

.PHONY: all rust mod_wasm wasm components test test-rust test-e2e up python php deb lint docs clean

all: rust mod_wasm wasm components

rust:
	cargo build --workspace $(CARGO_PROFILE_FLAG)

# The module links libwasm_runtime.so with an rpath, so Apache needs no LD_LIBRARY_PATH.
# apxs drops a lone -Wl,-rpath,DIR: it must be spelled -Wl,-Wl,-rpath,DIR.
mod_wasm: $(BUILD)/mod_wasm.so

# $(call apxs_build,WORK_DIR,RPATH): compiles mod_wasm.c in WORK_DIR, linked with RPATH, into $@.
define apxs_build
	@mkdir -p $(1)
	cp mod_wasm/mod_wasm.c $(1)/
	cd $(1) && $(APXS) -c -Wc,-Wall -Wc,-Werror -Wc,-Wextra -Wc,-Wno-unused-parameter \
		-I$(CURDIR)/runtime/include -L$(TARGET_DIR) -lwasm_runtime \
		-Wl,-Wl,-rpath,$(2) mod_wasm.c >/dev/null
	cp $(1)/.libs/mod_wasm.so $@.tmp && mv -f $@.tmp $@
endef

$(BUILD)/mod_wasm.so: mod_wasm/mod_wasm.c runtime/include/wasm_runtime.h rust
	$(call apxs_build,$(BUILD)/apxs,$(TARGET_DIR))

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

# Components, in build/components/ (never committed):
# - wasi:cli/command components: preview 1 command modules of build/wasm/ wrapped with wasmtime 48's
#   command adapter by tools/adapt-p1 (COMMAND_COMPONENTS: the C hello and cgi_echo samples, and the
#   test modules that trap, loop, grab memory, flood output, exit with a code, write to stderr);
# - wasi:http/proxy components: Python apps built by componentize-py (scripts/fetch-componentize-py.sh,
#   pinned, cached in build/tools) against the WIT of the wasmtime-wasi-http crate the runtime uses
#   (scripts/wit-dir.sh). Their CPython is pre-initialised: the app's imports run at build time.
COMPONENTS := $(BUILD)/components
ADAPT_P1 := $(TARGET_DIR)/adapt-p1
COMPONENTIZE_PY := $(BUILD)/tools/componentize-py/componentize-py
# Touched once the fetch script has verified the install; inside the install folder, so a reinstall
# (or removing the folder) takes it away too.
COMPONENTIZE_PY_STAMP := $(BUILD)/tools/componentize-py/.make-stamp
COMMAND_COMPONENTS := $(patsubst %,$(COMPONENTS)/%.wasm,hello cgi_echo trap loop memgrab flood exit3_before stderr)
PYTHON_HTTP_SRC := samples/python-http/app.py samples/python-http/http_io.py
HTTP_PROBE_SRC := tests/components/http_probe.py
PYTHON_COMPONENTS := $(COMPONENTS)/python-http.wasm $(COMPONENTS)/http_probe.wasm

components: $(COMMAND_COMPONENTS) $(PYTHON_COMPONENTS)

# cargo decides whether adapt-p1 is out of date (a no-op build leaves the binary's time alone, so
# the components are not remade for nothing). `make rust` builds it too, as a workspace member.
$(ADAPT_P1): tools/adapt-p1/Cargo.toml tools/adapt-p1/src/main.rs
	cargo build -p adapt-p1 $(CARGO_PROFILE_FLAG)

$(COMPONENTS)/%.wasm: $(BUILD)/wasm/%.wasm $(ADAPT_P1)
	@mkdir -p $(dir $@)
	$(ADAPT_P1) $< $@

# Re-run when the script (its pin) changes, and the Python components with it; the script reinstalls
# only when the install is not the pinned one.
$(COMPONENTIZE_PY_STAMP): scripts/fetch-componentize-py.sh
	scripts/fetch-componentize-py.sh >/dev/null
	touch $@

# $(call componentize_py,MODULE,SOURCES): builds the wasi:http/proxy component $@ from the Python
# module MODULE. The sources are copied to a folder of their own first: the build-time interpreter
# writes __pycache__ next to what it imports, and that must not land in the source tree.
define componentize_py
	@rm -rf $@.src && mkdir -p $@.src
	cp $(2) $@.src/
	wit="$$(scripts/wit-dir.sh)" && $(COMPONENTIZE_PY) -d "$$wit" -w wasi:http/proxy \
		componentize -p $@.src $(1) -o $@.tmp
	@rm -rf $@.src
	mv -f $@.tmp $@
endef

$(COMPONENTS)/python-http.wasm: $(PYTHON_HTTP_SRC) $(COMPONENTIZE_PY_STAMP)
	$(call componentize_py,app,$(PYTHON_HTTP_SRC))

$(COMPONENTS)/http_probe.wasm: $(HTTP_PROBE_SRC) $(COMPONENTIZE_PY_STAMP)
	$(call componentize_py,http_probe,$(HTTP_PROBE_SRC))

test: all php test-rust test-e2e

test-rust:
	cargo test --workspace $(CARGO_PROFILE_FLAG)

test-e2e:
	MOD_WASM_PROFILE=$(PROFILE) python3 -m pytest -q tests/e2e

# Regenerates the directive tables of docs/directives.md and docs/manifest.md from the runtime's
# directive table (runtime/src/directives.rs); the test fails when they are out of date.
docs:
	MOD_WASM_BLESS_DOCS=1 cargo test -p wasm_runtime --test directive_table $(CARGO_PROFILE_FLAG)

# Clippy runs in the build's profile so that it reuses the build scripts and proc macros the build
# already compiled (a cold check in the dev profile took 10.8 min in CI's rehearsal, this 3.7 min).
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets $(CARGO_PROFILE_FLAG) -- -D warnings

# The demo: samples/demo/app.kdl plus its front page, served by `mod-wasm up` through a template
# override: the built-in httpd.conf.j2 with samples/demo/demo.conf.in appended. The bundle goes to
# build/demo/bundle. UP_FLAGS are passed on (e.g. UP_FLAGS="--listen 127.0.0.1:9000").
DEMO := samples/demo
DEMO_TEMPLATES := $(BUILD)/demo/templates
UP_FLAGS ?=

up: all python $(DEMO_TEMPLATES)/httpd.conf.j2
	$(TARGET_DIR)/mod-wasm up $(DEMO)/app.kdl --templates $(DEMO_TEMPLATES) --out $(BUILD)/demo/bundle $(UP_FLAGS)

$(DEMO_TEMPLATES)/httpd.conf.j2: templates/httpd.conf.j2 $(DEMO)/demo.conf.in
	@mkdir -p $(dir $@)
	{ cat templates/httpd.conf.j2; sed 's|@DEMO@|$(CURDIR)/$(DEMO)|g' $(DEMO)/demo.conf.in; } > $@.tmp
	mv -f $@.tmp $@

# php-cgi for wasm32-wasi from Debian's php8.2 and sqlite3 sources (scripts/build-php.sh): built
# once, cached outside the repository (~/.cache/mod-wasm/php/<key>), copied to build/php/php-cgi.wasm.
php:
	nice -n 10 scripts/build-php.sh

# The WASI CPython of the Python sample and the demo (fetched once, verified, cached in build/python).
python:
	samples/fetch-python.sh >/dev/null

# Debian packages (packaging/build-debs.sh): the same build, with a second copy of mod_wasm.so linked
# with the packaged runtime's folder as its rpath (the copy in build/ keeps target/PROFILE).
DEB_RUNTIME_DIR := /usr/lib/mod-wasm

deb: rust $(BUILD)/pkg/mod_wasm.so
	packaging/build-debs.sh --target-dir $(TARGET_DIR) --mod-wasm-so $(BUILD)/pkg/mod_wasm.so --out $(BUILD)/deb

$(BUILD)/pkg/mod_wasm.so: mod_wasm/mod_wasm.c runtime/include/wasm_runtime.h rust
	$(call apxs_build,$(BUILD)/pkg/apxs,$(DEB_RUNTIME_DIR))

clean:
	rm -rf $(BUILD)
