# tracewire build. `make` builds build/tracewire; `make test` installs what is
# missing, builds, and runs unit + integration tests; `make demo` runs the demo.

BUILD    ?= build
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := x86
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

# vmlinux.h is generated from the build machine's BTF (see docs/build.md):
# CO-RE relocations make the object portable, and a 3 MB generated header
# does not belong in git.
VMLINUX_H := $(BUILD)/vmlinux.h

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
# User-space folders (README "Layout"): the agent (injector/, its Go binary
# analysis in injector/golang/), the correlator core (correlator/), its
# exporters (correlator/export/) and what every part uses (correlator/util/).
# Each is on the include path, so a header is named alone ("log.h").
SRC_DIRS := injector injector/golang correlator correlator/export correlator/util
SRC_INC  := $(addprefix -I,$(SRC_DIRS))
CFLAGS   += $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -I$(BUILD) $(SRC_INC) -MMD -MP
LDLIBS   := -lbpf -lelf -lz -lcurl -lpthread -ldw -lcapstone
# libnl-3 (route): the pod-interface watcher of the IPv4 option (injector/ifwatch.c)
NL_CFLAGS := $(shell pkg-config --cflags libnl-route-3.0 2>/dev/null || echo -I/usr/include/libnl3)
NL_LIBS   := $(shell pkg-config --libs libnl-route-3.0 2>/dev/null || echo -lnl-route-3 -lnl-3)
CFLAGS   += $(NL_CFLAGS)
LDLIBS   += $(NL_LIBS)
# libmicrohttpd: --metrics-addr (injector/metrics.c)
LDLIBS   += -lmicrohttpd
# json-c and libyaml: the Kubernetes API client (injector/k8s_*.c)
K8S_CFLAGS := $(shell pkg-config --cflags json-c yaml-0.1 2>/dev/null || echo -I/usr/include/json-c)
K8S_LIBS   := $(shell pkg-config --libs json-c yaml-0.1 2>/dev/null || echo -ljson-c -lyaml)
CFLAGS   += $(K8S_CFLAGS)
LDLIBS   += $(K8S_LIBS)
# libnghttp2: HPACK decoding of HTTP/2 header blocks (correlator/http2_hpack.c)
LDLIBS   += -lnghttp2
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) -Wno-unused-parameter \
	-Wno-address-of-packed-member -Iinclude -Ibpf -I$(BUILD)

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
CORR_SRCS := $(wildcard correlator/*.c correlator/export/*.c correlator/util/*.c)
INJ_SRCS  := $(filter-out injector/main.c,$(wildcard injector/*.c injector/golang/*.c))
# The agent's objects: those that include a BPF skeleton, and the daemon that
# drives them. Everything else is the core library, built without clang,
# bpftool or BTF: the unit tests, tools and benchmarks link only that.
AGENT_SRCS := $(sort $(shell grep -l '\.skel\.h' $(INJ_SRCS)) injector/daemon.c injector/daemon_stats.c)
CORE_SRCS  := $(filter-out $(AGENT_SRCS),$(CORR_SRCS) $(INJ_SRCS))
CORE_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(CORE_SRCS))
AGENT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(AGENT_SRCS))
CORE_LIB   := $(BUILD)/libtracewire-core.a
AGENT_LIB  := $(BUILD)/libtracewire-agent.a
BIN        := $(BUILD)/tracewire

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
# Small programs the integration tests drive (e.g. encoder samples for protoc).
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))
# Benchmark programs (bench/*.c, e.g. build/bench/replay).
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

.SECONDARY:
.PHONY: FORCE all deps test unit integration demo clean bench bench-quick check-root fuzz unit-asan verify
all: $(BIN)

deps:
	bash scripts/install-deps.sh

$(VMLINUX_H):
	@mkdir -p $(@D)
	@test -r $(VMLINUX_BTF) || { echo "error: $(VMLINUX_BTF) missing: the build needs a kernel with BTF (CONFIG_DEBUG_INFO_BTF)" >&2; exit 1; }
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H) $(wildcard include/*.h bpf/lib/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The IPv4 option walk (tw_ipopt_find) verifies only with 32-bit ALU ops,
# whose bounds the verifier tracks (kernel >= 5.1 runs them).
$(BUILD)/bpf/ipopt.bpf.o: BPF_CFLAGS += -mcpu=v3

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

# Agent objects may include any skeleton: generate them all first. Core
# objects need none.
$(AGENT_OBJS): $(BUILD)/obj/%.o: %.c | $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(AGENT_LIB): $(AGENT_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(BIN): $(BUILD)/obj/injector/main.o $(AGENT_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# The build for tracewire --version: `git describe` of the checkout when it is
# built ("unknown" outside git). Rewritten only when it changes, so main.o is
# compiled again only then. (The version itself: correlator/util/version.h.)
$(BUILD)/tw_build.h: FORCE
	@mkdir -p $(@D)
	@printf '#define TW_BUILD "%s"\n' "$$(git describe --always --dirty 2>/dev/null || echo unknown)" >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/obj/injector/main.o: $(BUILD)/tw_build.h
FORCE:

$(BUILD)/tests/%: tests/unit/%.c $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit $< $(CORE_LIB) -o $@ $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(CORE_LIB) -o $@ $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(CORE_LIB) -o $@ $(LDLIBS)

check-root:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "error: 'make $(MAKECMDGOALS)' needs root: it installs packages, loads BPF programs and creates network namespaces." >&2; \
		echo "       run it as root (e.g. sudo make $(MAKECMDGOALS))." >&2; exit 1; fi

# Go executables tests/unit/test_gobin.c reads: the Go test server built by
# each toolchain present (go 1.19 from Debian, 1.23 from bookworm-backports),
# plain, -w (no DWARF) and -s -w (no symbol table either), with `go tool nm`
# listings to check the addresses against.
GO119    ?= go
GO123    ?= /usr/lib/go-1.23/bin/go
GOFIX    := $(BUILD)/gofixtures
GOFIX_SRC := tests/integration/servers/go_mid.go
GO_ENV    = GOCACHE=$(abspath $(BUILD))/gocache GOPATH=$(abspath $(BUILD))/gopath GO111MODULE=off \
	GOPROXY=off GOFLAGS= GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0
GO_VERSIONS := $(if $(shell command -v $(GO119)),119) $(if $(wildcard $(GO123)),123)
GOFIX_BINS := $(foreach v,$(GO_VERSIONS),$(foreach f,plain w sw,$(GOFIX)/mid_go$(v)_$(f)))
gofix_ldflags = $(if $(filter w,$(1)),-w,$(if $(filter sw,$(1)),-s -w))

define GOFIX_RULE
$(GOFIX)/mid_go$(1)_$(2): $(GOFIX_SRC)
	@mkdir -p $$(@D)
	$(GO_ENV) $(GO$(1)) build -ldflags='$(call gofix_ldflags,$(2))' -o $$@.tmp $$< && mv $$@.tmp $$@
	$(if $(filter sw,$(2)),,$(GO_ENV) $(GO$(1)) tool nm -size $$@ > $$@.nm)
endef
$(foreach v,$(GO_VERSIONS),$(foreach f,plain w sw,$(eval $(call GOFIX_RULE,$(v),$(f)))))
# grpc-go (Debian's golang-google-grpc-dev, GOPATH-style) built by each
# toolchain: the grpc probes' plan, with DWARF and stripped
define GOFIX_GRPC_RULE
$(GOFIX)/grpc_go$(1)_$(2): tests/integration/servers/go_grpc.go
	@mkdir -p $$(@D)
	$(GO_ENV) GOPATH=$(abspath $(BUILD))/gopath:/usr/share/gocode $(GO$(1)) build -ldflags='$(call gofix_ldflags,$(2))' -o $$@.tmp $$< && mv $$@.tmp $$@
	$(if $(filter sw,$(2)),,$(GO_ENV) $(GO$(1)) tool nm -size $$@ > $$@.nm)
endef
GOFIX_GRPC := $(if $(wildcard /usr/share/gocode/src/google.golang.org/grpc),$(foreach v,$(GO_VERSIONS),$(GOFIX)/grpc_go$(v)_plain $(GOFIX)/grpc_go$(v)_sw))
$(foreach v,$(GO_VERSIONS),$(foreach f,plain sw,$(eval $(call GOFIX_GRPC_RULE,$(v),$(f)))))

$(BUILD)/tests/test_gobin $(BUILD)/tests/test_goworker: | $(GOFIX_BINS) $(GOFIX_GRPC)

# scripts/check-layout.sh: the folders depend one way only (README "Layout")
unit: $(UNIT_BINS)
	@bash scripts/check-layout.sh
	@bash tests/run-unit.sh $(UNIT_BINS)

integration: $(BIN) $(TOOL_BINS)
	@bash tests/integration/run.sh

test: check-root
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory bpf-tests
	@$(MAKE) --no-print-directory verify
	@$(MAKE) --no-print-directory kernels
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=5
	@$(MAKE) --no-print-directory integration

demo: check-root
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@bash scripts/demo.sh

bench: check-root $(BIN)
	@bash bench/run.sh

bench-quick: check-root $(BIN)
	@bash bench/run.sh --quick

# optional: test_cli runs make from a copy of this Makefile alone
-include tests/fuzz/fuzz.mk
-include deploy/image.mk
-include tests/bpf/bpf.mk

# Loads every BPF program alone on the running kernel and prints processed
# instructions, combined stack, verification time and verdict; fails when a
# program is rejected or uses more than 75% of the stack or 50% of the
# instruction budget. Static, so the same binary runs in other kernels' guests.
VERIFY_TOOL := $(BUILD)/tools/bpf_verify
$(VERIFY_TOOL): scripts/bpf_verify.c
	@mkdir -p $(@D)
	$(CC) -O2 -g $(WARN) -static $< -o $@ -lbpf -lelf -lz

verify: $(BPF_OBJS) $(VERIFY_TOOL)
	$(VERIFY_TOOL) $(BPF_OBJS)
-include scripts/kernels.mk

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/tests $(BUILD)/tools $(BUILD)/bench -name '*.d' 2>/dev/null)
