# Ficus build. `make` builds build/ficus; `make check` runs every test.
CC       ?= cc
PREFIX   ?= /usr/local
O        ?= build
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wundef -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wimplicit-fallthrough -Wcast-qual -Wnull-dereference
CFLAGS   ?= -O2 -g
ALLCFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(CFLAGS) $(EXTRA_CFLAGS)
LIBS     := -lyaml -ljansson -lsqlite3 -lssl -lcrypto -lz -lpcre2-8 -lsystemd -lpthread
TESTLIBS := -lcmocka

LIB_SRC   := $(filter-out %_test.c src/main.c,$(wildcard src/*/*.c))
TEST_SRC  := $(wildcard src/*/*_test.c)
HDRS      := $(wildcard src/*/*.h)
FUZZ_SRC  := $(wildcard fuzz/fuzz_*.c)
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

LIB_OBJ   = $(LIB_SRC:src/%.c=$(O)/obj/%.o)
TEST_BIN  = $(TEST_SRC:src/%_test.c=$(O)/test/%_test)

.PHONY: all deps deps-build deps-demo deps-test deps-bench test test-unit test-e2e asan asan-bin \
        lint fuzz fuzz-replay bench demo check install clean soak format

all: deps-build $(O)/ficus

# scripts/deps.sh installs the Debian packages one task needs: `make` needs only
# the build set (no browser, no nginx); tests, bench and demo add theirs.
deps: deps-build
deps-build deps-demo deps-test deps-bench:
	@scripts/deps.sh --check $(@:deps-%=%) >/dev/null 2>&1 || scripts/deps.sh $(@:deps-%=%)

$(O)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALLCFLAGS) -DFX_VERSION='"$(VERSION)"' -c $< -o $@

$(O)/libficus.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/ficus: $(O)/obj/main.o $(O)/libficus.a
	$(CC) $(ALLCFLAGS) -o $@ $^ $(LIBS)

# ---- dashboard page (registry) -------------------------------------------------
# src/registry/dashboard.html is embedded as fx_reg_dashboard_html() by
# scripts/embed.sh into a generated C file, compiled into libficus.a. `make
# fuzz`/`fuzz-replay` compile LIB_SRC directly, so they get the generated file
# too (admin.c references the page).
DASH_SRC := $(O)/gen/dashboard_html.c
DASH_OBJ := $(O)/gen/dashboard_html.o

$(DASH_SRC): src/registry/dashboard.html scripts/embed.sh
	@mkdir -p $(dir $@)
	@echo "  EMBED   $<"
	@sh scripts/embed.sh $< $@ fx_reg_dashboard_html $(abspath src/registry/registry.h)

$(DASH_OBJ): $(DASH_SRC) src/registry/registry.h src/registry/registry_types.h
	@echo "  CC      $<"
	@$(CC) $(ALLCFLAGS) -Isrc -c $< -o $@

$(O)/libficus.a: $(DASH_OBJ)

fuzz fuzz-replay: $(DASH_SRC)
fuzz fuzz-replay: LIB_SRC += $(DASH_SRC)
# ---- end dashboard page ----------------------------------------------------------

$(O)/test/%_test: src/%_test.c $(O)/libficus.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Wno-missing-prototypes -o $@ $< $(O)/libficus.a $(LIBS) $(TESTLIBS)

test-unit: deps-test $(TEST_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; $$t; done

# Stand-in for systemd's NOTIFY_SOCKET in tests/e2e/57-systemd.test.mjs.
$(O)/test/notify_sink: tests/helpers/notify_sink.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $<

test-e2e: all deps-test $(O)/test/notify_sink
	FICUS_BIN=$(abspath $(O)/ficus) node --test --test-concurrency=1 tests/e2e/

test: test-unit test-e2e

# Whole unit + e2e suite under AddressSanitizer and UBSan (leaks fail the run).
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
asan: deps-test
	$(MAKE) O=build/asan CC=clang CFLAGS="$(ASAN_CFLAGS)" test-unit test-e2e

# The ASan+UBSan binary alone (for the stateful fuzzer).
asan-bin: deps-test
	$(MAKE) O=build/asan CC=clang CFLAGS="$(ASAN_CFLAGS)" build/asan/ficus

LINT_SRC := $(filter-out %_test.c,$(wildcard src/*/*.c) src/main.c)
lint: deps-test
	clang-format --dry-run -Werror $(wildcard src/*/*.c src/*/*.h src/main.c fuzz/*.c)
	clang-tidy --quiet --warnings-as-errors='*' $(LINT_SRC) -- -std=c11 -D_GNU_SOURCE -Isrc
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE --std=c11 src

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h src/main.c fuzz/*.c)

FUZZ_SECONDS ?= 30
# Stateful fuzzer (fuzz/stateful/): a real Ficus, ASan+UBSan build, generous timeouts.
STATEFUL := FICUS_BIN=$(abspath build/asan/ficus) FICUS_TEST_SCALE=3 node fuzz/stateful/run.mjs
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread -O1 -g -fsanitize=fuzzer-no-link,address,undefined
fuzz: deps-test
	@mkdir -p $(O)/fuzz
	set -e; for f in $(FUZZ_SRC); do \
	  n=$$(basename $$f .c); \
	  clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $(O)/fuzz/$$n $$f $(LIB_SRC) $(LIBS); \
	done
	set -e; for f in $(FUZZ_SRC); do \
	  n=$$(basename $$f .c); t=$${n#fuzz_}; mkdir -p fuzz/corpus/$$t $(O)/fuzz/work-$$t; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  $(O)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -dict=fuzz/http.dict -print_final_stats=1 \
	    $(O)/fuzz/work-$$t fuzz/corpus/$$t; \
	done
	$(MAKE) asan-bin
	@echo "== fuzz stateful for $(FUZZ_SECONDS)s"
	$(STATEFUL) --seconds $(FUZZ_SECONDS)

# Replay the committed corpora once (fast; part of make check).
fuzz-replay: deps-test
	@mkdir -p $(O)/fuzz
	set -e; for f in $(FUZZ_SRC); do \
	  n=$$(basename $$f .c); t=$${n#fuzz_}; \
	  clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $(O)/fuzz/$$n $$f $(LIB_SRC) $(LIBS); \
	  $(O)/fuzz/$$n -runs=0 fuzz/corpus/$$t; \
	done
	$(MAKE) asan-bin
	$(STATEFUL) --replay

bench: all deps-bench
	bench/run.sh

# make demo [PORT=8080] [ADMIN_PORT=9901] [LEGACY_PORT=3000] [NEW_PORT=4000]: only
# values given on the command line count (a PORT in the environment does not).
DEMO_ARG = $(if $(filter command line,$(origin $(1))),$(2) $($(1)))
demo: all deps-demo
	scripts/demo.sh $(call DEMO_ARG,PORT,--port) $(call DEMO_ARG,ADMIN_PORT,--admin-port) \
	  $(call DEMO_ARG,LEGACY_PORT,--legacy-port) $(call DEMO_ARG,NEW_PORT,--new-port)

# 10 minutes of mixed load with RSS sampled every 10 s (SOAK_SECONDS to change).
soak: all deps-bench
	scripts/soak.sh

check: all test-unit test-e2e asan fuzz-replay lint

# Debian layout: the unit beside the binary's prefix ($(PREFIX)/lib/systemd/system is
# on systemd's search path for /usr and /usr/local), logrotate's snippet and the
# configuration under SYSCONFDIR (/etc: logrotate reads only /etc/logrotate.d). An
# existing /etc/ficus/ficus.yaml is never overwritten; a new one stores its state
# in /var/lib/ficus, the unit's StateDirectory (/etc is read-only there).
SYSCONFDIR  ?= /etc
SYSTEMDUNIT ?= $(PREFIX)/lib/systemd/system
install: all
	install -D -m 0755 $(O)/ficus $(DESTDIR)$(PREFIX)/bin/ficus
	install -D -m 0644 docs/ficus.1 $(DESTDIR)$(PREFIX)/share/man/man1/ficus.1
	install -D -m 0644 examples/ficus.yaml $(DESTDIR)$(PREFIX)/share/ficus/ficus.yaml
	@mkdir -p $(DESTDIR)$(SYSTEMDUNIT)
	sed 's|/usr/local/bin/ficus|$(PREFIX)/bin/ficus|g' contrib/ficus.service \
	  >$(DESTDIR)$(SYSTEMDUNIT)/ficus.service
	@chmod 0644 $(DESTDIR)$(SYSTEMDUNIT)/ficus.service
	install -D -m 0644 contrib/ficus.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/ficus
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/ficus/ficus.yaml ]; then \
	  mkdir -p $(DESTDIR)$(SYSCONFDIR)/ficus; \
	  echo "  INSTALL $(DESTDIR)$(SYSCONFDIR)/ficus/ficus.yaml"; \
	  sed 's|^store: sqlite:ficus.db$$|store: sqlite:/var/lib/ficus/ficus.db|' examples/ficus.yaml \
	    >$(DESTDIR)$(SYSCONFDIR)/ficus/ficus.yaml; \
	  chmod 0644 $(DESTDIR)$(SYSCONFDIR)/ficus/ficus.yaml; \
	fi

clean:
	rm -rf build
