# Makefile
#    Builds heimdall_gen with PGXS: the extension's shared library (the
#    signal model in src/model plus the Postgres glue in src), the model's
#    unit tests and benchmarks (built without any Postgres header, with
#    -Wall -Wextra -Werror), and runs pg_regress and the TAP tests.
#
#    make               build the extension
#    make unit          build and run the C unit tests of the model
#    make bench-model   model benchmark (prints one summary line)
#    make check-math-reference   numpy reference of hg_math agrees with the pin
#    make test          everything, on a fresh Debian machine (scripts/test.sh)
#    make demo          a real job on a throwaway cluster (scripts/demo.sh)

EXTENSION   = heimdall_gen
EXTVERSION  = 0.9.0
MODULE_big  = heimdall_gen

MODEL_SRCS  = $(sort $(wildcard src/model/*.c))
GLUE_SRCS   = $(sort $(wildcard src/*.c))
OBJS        = $(MODEL_SRCS:.c=.o) $(GLUE_SRCS:.c=.o)

DATA        = $(wildcard sql/$(EXTENSION)--*.sql)
REGRESS     = $(sort $(basename $(notdir $(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. $(EXTRA_REGRESS_OPTS)
TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl

SHLIB_LINK  = -lm -lpthread
PG_CPPFLAGS = -Isrc -Isrc/model

# The model: deterministic floating point (no contraction into FMA, which
# would change results between machines) and strict warnings.
MODEL_CFLAGS = -std=c99 -D_DEFAULT_SOURCE -O3 -ffp-contract=off -fno-math-errno
MODEL_WARN   = -Wall -Wextra -Werror

EXTRA_CLEAN = build results regression.diffs regression.out tmp_check log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track header dependencies here (Debian's PostgreSQL is built
# without autodepend): rebuild every object when any header changes, so a
# struct that grew never meets an object compiled against its old layout.
HEADERS = $(wildcard src/*.h src/model/*.h)
$(OBJS) $(OBJS:.o=.bc): $(HEADERS)

# The model's objects inside the extension get the model's flags too.
$(MODEL_SRCS:.c=.o): CFLAGS += $(MODEL_CFLAGS) $(MODEL_WARN)

# ---------------------------------------------------------------------------
# Unit tests and benchmarks of the model, built without Postgres.
# ---------------------------------------------------------------------------
HOSTCC      ?= cc
UNIT_CFLAGS  = $(MODEL_CFLAGS) $(MODEL_WARN) -g -Isrc/model -Itest/unit $(SANITIZE) $(MODEL_DEFS)
BUILD        = build
MODEL_TOBJS  = $(patsubst src/model/%.c,$(BUILD)/model/%.o,$(MODEL_SRCS))
UNIT_SRCS    = $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS    = $(patsubst test/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
BENCH_SRCS   = $(sort $(wildcard test/bench/bench_*.c))
BENCH_BINS   = $(patsubst test/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

$(BUILD)/model/%.o: src/model/%.c $(wildcard src/model/*.h)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(UNIT_CFLAGS) -c $< -o $@

# The worker's model threads (src/hg_prefetch.c) are glue but free of
# PostgreSQL: tested here with the model, under the model's warnings.
$(BUILD)/unit/test_prefetch: test/unit/test_prefetch.c test/unit/hg_test.h src/hg_prefetch.c src/hg_prefetch.h $(MODEL_TOBJS)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(UNIT_CFLAGS) -Isrc $< src/hg_prefetch.c $(MODEL_TOBJS) -o $@ -lm -lpthread

# Likewise the worker's release of removed WAL segments (src/hg_walfd.c).
$(BUILD)/unit/test_walfd: test/unit/test_walfd.c test/unit/hg_test.h src/hg_walfd.c src/hg_walfd.h
	@mkdir -p $(dir $@)
	$(HOSTCC) $(UNIT_CFLAGS) -Isrc $< src/hg_walfd.c -o $@

# And the page size of a mapping, which the launcher logs for the shared memory (src/hg_mappings.c).
$(BUILD)/unit/test_mappings: test/unit/test_mappings.c test/unit/hg_test.h src/hg_mappings.c src/hg_mappings.h
	@mkdir -p $(dir $@)
	$(HOSTCC) $(UNIT_CFLAGS) -Isrc $< src/hg_mappings.c -o $@

$(BUILD)/unit/%: test/unit/%.c test/unit/hg_test.h $(MODEL_TOBJS)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(UNIT_CFLAGS) $< $(MODEL_TOBJS) -o $@ -lm

$(BUILD)/bench/%: test/bench/%.c $(MODEL_TOBJS)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(UNIT_CFLAGS) $< $(MODEL_TOBJS) -o $@ -lm

.PHONY: unit unit-build bench-model test demo
unit-build: $(UNIT_BINS)

# Runs every unit test binary; prints the closing "N passed, N failed" line.
# The golden test runs a second time in a build without any AVX2 clone or
# intrinsic (-DHG_SCALAR_ONLY): the same pinned hash proves the vector paths
# give the bytes of the scalar ones.
SCALAR_BUILD = $(BUILD)/scalar
unit: unit-build unit-scalar-build
	@scripts/run-unit-tests.sh $(UNIT_BINS) $(SCALAR_BUILD)/unit/test_golden

# The numpy re-implementation of hg_math (needs python3-numpy) must print
# the hash test_math.c pins.
PYTHON_NUMPY ?= /usr/bin/python3
.PHONY: check-math-reference
check-math-reference:
	@h=$$($(PYTHON_NUMPY) test/reference/hg_math_ref.py | sed 's/.*: 0x//'); \
	  grep -q "REFERENCE_HASH 0x$${h}ull" test/unit/test_math.c \
	  && echo "hg_math_ref.py: 0x$$h, pinned in test_math.c" \
	  || { echo "hg_math_ref.py prints 0x$$h, test_math.c pins another hash"; exit 1; }

.PHONY: unit-scalar-build
unit-scalar-build:
	@$(MAKE) --no-print-directory BUILD=$(SCALAR_BUILD) MODEL_DEFS=-DHG_SCALAR_ONLY $(SCALAR_BUILD)/unit/test_golden

bench-model: $(BUILD)/bench/bench_model
	$(BUILD)/bench/bench_model

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

# The unit tests under valgrind's memcheck (slow: minutes), and the static
# checkers on the whole tree (the model without Postgres, the glue with it).
.PHONY: unit-valgrind lint
unit-valgrind: unit-build
	@for t in $(UNIT_BINS); do \
	  valgrind -q --error-exitcode=99 --leak-check=full $$t >/dev/null || { echo "valgrind: $$t failed"; exit 1; }; \
	  echo "valgrind clean: $$t"; done

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --std=c99 -D_DEFAULT_SOURCE -Isrc/model --inline-suppr src/model test/unit
	clang-tidy --quiet --warnings-as-errors="*" $(MODEL_SRCS) -- -std=c99 -D_DEFAULT_SOURCE -Isrc/model
	clang-tidy --quiet --warnings-as-errors="*" $(GLUE_SRCS) -- -Isrc -Isrc/model -I$(shell $(PG_CONFIG) --includedir-server)

# SQL-side benchmarks: each starts its own throwaway cluster (as postgres).
.PHONY: bench bench-cancel bench-throughput bench-virtual bench-client
bench-virtual:
	bash test/bench/bench_virtual.sh
bench-cancel:
	bash test/bench/bench_cancel_latency.sh
bench-throughput:
	bash test/bench/bench_throughput.sh
bench-client:
	/usr/bin/python3 test/bench/bench_client.py
bench: bench-model bench-throughput bench-cancel bench-virtual bench-client
