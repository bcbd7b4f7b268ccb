# BPF program tests (tests/bpf/, in the style of the kernel's BPF
# selftests), included by the Makefile. `make bpf-tests` builds each
# tests/bpf/test_<name>.c against the BPF skeletons into $(BUILD)/tests/bpf/
# and runs it as root: each loads the real objects with maps of its own in a
# network namespace of its own, and attaches nothing outside it.
#   test_ipopt     tc programs (ipopt.bpf.c) under BPF_PROG_TEST_RUN
#   test_h1inject  the sk_msg program (headers.bpf.c) on a loopback connection
#   test_h2inject  its HTTP/2 tail call (h2headers.bpf.c), checked with libnghttp2

BPF_TEST_SRCS := $(wildcard tests/bpf/test_*.c)
BPF_TEST_BINS := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(BPF_TEST_SRCS))

$(BUILD)/tests/bpf/%: tests/bpf/%.c tests/bpf/bpf_test.h tests/bpf/bt_sockhash.h $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/bpf $< -o $@ -lbpf -lelf -lz -lnghttp2

.PHONY: bpf-tests
bpf-tests: check-root $(BPF_TEST_BINS)
	@failed=0; for t in $(BPF_TEST_BINS); do echo "== $$t"; $$t || { echo "FAILED: $$t" >&2; failed=1; }; done; exit $$failed
