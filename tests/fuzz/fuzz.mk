# Fuzzing (issue 16), included by the Makefile.
#
# `make fuzz` builds a libFuzzer binary for each tests/fuzz/fuzz_<name>.c into
# $(BUILD)/fuzz/ and runs each for FUZZ_SECONDS seconds, starting from the
# seeds in tests/fuzz/corpus/<name>/. What a run adds to the corpus stays in
# $(BUILD)/fuzz/corpus/<name>/, never in the source tree. Any crash, sanitizer
# report, leak, timeout or out-of-memory fails `make fuzz`; the input is left
# as $(BUILD)/fuzz/<kind>-<sha1> for `$(BUILD)/fuzz/fuzz_<name> FILE`.
# Per target, tests/fuzz/fuzz_<name>.options adds libFuzzer flags (e.g.
# -max_len) and tests/fuzz/fuzz_<name>.dict is passed as its dictionary.
#
# The user-space sources are compiled again with coverage, ASan and UBSan
# into $(BUILD)/fuzz/libtw.a; a target links what it uses from it. Only the
# core library's sources (CORE_SRCS in the Makefile): the agent's include BPF
# skeletons (nothing fuzzed needs them, and they would need the BPF build).
#
# `make unit-asan` builds the unit tests and the library under ASan + UBSan in
# $(BUILD)/asan and runs them (without valgrind, which cannot run with ASan).

FUZZ_CC      ?= $(shell command -v clang-14 || command -v clang || echo clang)
FUZZ_SECONDS ?= 10
FUZZ_DIR     := $(BUILD)/fuzz
SAN_FLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -g -O1 $(SAN_FLAGS) -std=gnu11 -D_GNU_SOURCE $(WARN) \
	-Iinclude $(SRC_INC) -Itests/fuzz $(NL_CFLAGS) -MMD -MP

FUZZ_LIB_SRCS   := $(CORE_SRCS)
FUZZ_OBJS       := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_TARGETS    := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS       := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/libtw.a: $(FUZZ_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/libtw.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_DIR)/libtw.a -o $@ $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@bash tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

unit-asan: | $(GOFIX_BINS)
	@TW_VALGRIND=0 TW_GOFIXTURES=$(abspath $(GOFIX)) CFLAGS='-O1 -g $(SAN_FLAGS)' \
		$(MAKE) --no-print-directory BUILD=$(BUILD)/asan CC=$(FUZZ_CC) GOFIX=$(GOFIX) unit

.PHONY: fuzz fuzz-build unit-asan

-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)
