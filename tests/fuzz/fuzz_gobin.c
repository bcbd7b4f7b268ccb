// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the Go executable analysis (injector/golang/gobin*.c,
 * goplan.c): ELF headers and sections (libelf), .go.buildinfo, .gopclntab,
 * .symtab, DWARF (libdw) and disassembly (capstone). tracewire runs it on
 * the executable of any process it selects, as root: the file is the
 * attacker's.
 *
 * Input: an ELF file (seeds: small synthetic Go executables made by
 * tests/fuzz/gen_gobin_seeds.py, each with the functions, tables and DWARF
 * the probes need, in the layouts of several Go versions). It is written to
 * a memfd and analysed through /proc/self/fd/N: first the whole plan
 * (tw_goplan_build, what the daemon does), then each step on its own so
 * that a step the plan stops before is reached too. The pure parsers also
 * get the raw input as a .gopclntab, a .go.buildinfo and machine code.
 *
 * tests/fuzz/fuzz_gobin.options caps the input size (-max_len) and the time
 * per input: the analysis must stay linear in the file's size.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gobin.h"
#include "goplan.h"

#include "fuzz_check.h"

static const char *const funcs[] = {
	"net/http.serverHandler.ServeHTTP", "net/http.(*persistConn).roundTrip",
	"net/http.persistConnWriter.Write", "net/http.(*connReader).Read",
	"runtime.newproc.func1",            "runtime.newproc1",
	"runtime.runqput",
};

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("fuzz-gobin", MFD_CLOEXEC);
	CHECK(fd >= 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static void check_plan(const struct tw_goplan *plan, int err)
{
	char desc[1024];

	CHECK(memchr(plan->why, '\0', sizeof(plan->why)));
	CHECK(memchr(plan->version, '\0', sizeof(plan->version)));
	if (err) {
		CHECK(plan->why[0]);
		return;
	}
	CHECK(plan->n_sites >= 1 && plan->n_sites <= TW_GOPLAN_MAX_SITES);
	for (size_t i = 0; i < plan->n_sites; i++)
		CHECK(plan->sites[i].kind < TW_GS_KINDS);
	tw_goplan_describe(plan, desc, sizeof(desc));
	CHECK(memchr(desc, '\0', sizeof(desc)));
	tw_goplan_describe(plan, desc, 20);
	CHECK(memchr(desc, '\0', 20));
}

static void each_step(void)
{
	struct tw_gofield f[] = {
		{ "runtime.g", "goid", -1 },          { "runtime.g", "parentGoid", -1 },
		{ "net/http.response", "conn", -1 },  { "net/http.conn", "rwc", -1 },
		{ "net.TCPConn", "conn", -1 },        { "net.conn", "fd", -1 },
		{ "net.netFD", "pfd", -1 },           { "internal/poll.FD", "Sysfd", -1 },
	};
	struct tw_gofunc fn[sizeof(funcs) / sizeof(funcs[0])];
	bool found[sizeof(funcs) / sizeof(funcs[0])];
	struct tw_gobin *gb;
	unsigned major, minor;
	uint64_t rets[32], at, off;
	struct tw_goentry e;
	uint8_t buf[64];

	if (tw_gobin_open(path, &gb))
		return;
	(void)tw_gobin_is_go(gb);
	(void)tw_gobin_has_symtab(gb);
	(void)tw_gobin_has_dwarf(gb);
	CHECK(strlen(tw_gobin_version(gb)) < 48);
	if (!tw_go_parse_version(tw_gobin_version(gb), &major, &minor))
		(void)tw_go_table_fields(major, minor, f, sizeof(f) / sizeof(f[0]));
	if (!tw_gobin_dwarf_fields(gb, f, sizeof(f) / sizeof(f[0])))
		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			CHECK(f[i].offset >= -1);
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
		found[i] = !tw_gobin_func(gb, funcs[i], &fn[i]);
		if (!found[i])
			continue;
		(void)tw_gobin_rets(gb, &fn[i], rets, 32);
		if (!tw_gobin_entry(gb, &fn[i], &e) && e.branch)
			CHECK(e.branch >= fn[i].addr && e.body > e.branch);
		if (!tw_gobin_file_offset(gb, fn[i].addr, &off))
			(void)tw_gobin_read(gb, fn[i].addr, buf, sizeof(buf));
	}
	if (found[4] && found[5])
		(void)tw_gobin_call_to(gb, &fn[4], fn[5].addr, &at);
	tw_gobin_close(gb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tw_goplan plan;
	struct tw_goentry e;
	uint64_t entry, fsize, rets[8], at;
	char version[64];
	int err;

	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	err = tw_goplan_build(path, &plan);
	check_plan(&plan, err);
	each_step();

	/* the pure parsers on the raw bytes */
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		if (!tw_gopclntab_find(data, size, 0x401000, funcs[i], &entry, &fsize))
			CHECK(fsize > 0);
	if (!tw_go_buildinfo_version(data, size, version, sizeof(version)))
		CHECK(strlen(version) < sizeof(version));
	if (size <= 4096) {
		(void)tw_x86_rets(data, size, 0x401000, rets, 8);
		(void)tw_x86_entry(data, size, 0x401000, &e);
		(void)tw_x86_call_to(data, size, 0x401000, 0x402000, &at);
	}
	return 0;
}
