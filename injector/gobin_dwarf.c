// SPDX-License-Identifier: BSD-2-Clause
/*
 * Struct member offsets for the Go probes: from the binary's own DWARF
 * (libdw), else from a table by Go version for binaries built with -w.
 */
#include "gobin_int.h"

#include <errno.h>
#include <string.h>

/* Go's DWARF puts each package's types at the top level of its unit: a walk
 * over the units' direct children finds them without descending into
 * functions. */
static void scan_struct(Dwarf_Die *type, const char *name, struct tw_gofield *f, size_t n)
{
	Dwarf_Die m;

	if (dwarf_child(type, &m))
		return;
	do {
		Dwarf_Attribute at;
		Dwarf_Word off;
		const char *mn;

		if (dwarf_tag(&m) != DW_TAG_member || !(mn = dwarf_diename(&m)))
			continue;
		if (!dwarf_attr(&m, DW_AT_data_member_location, &at) || dwarf_formudata(&at, &off))
			continue;
		for (size_t i = 0; i < n; i++)
			if (f[i].offset < 0 && !strcmp(f[i].type, name) && !strcmp(f[i].member, mn))
				f[i].offset = (int64_t)off;
	} while (dwarf_siblingof(&m, &m) == 0);
}

static bool wanted(const char *name, const struct tw_gofield *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].offset < 0 && !strcmp(f[i].type, name))
			return true;
	return false;
}

static bool all_found(const struct tw_gofield *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].offset < 0)
			return false;
	return true;
}

int tw_gobin_dwarf_fields(struct tw_gobin *gb, struct tw_gofield *f, size_t n)
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	for (size_t i = 0; i < n; i++)
		f[i].offset = -1;
	if (!gb->has_dwarf)
		return -ENODATA;
	if (!gb->dwarf) {
		/* libdw inflates SHF_COMPRESSED sections (Go compresses them) */
		gb->dwarf = dwarf_begin_elf(gb->elf, DWARF_C_READ, NULL);
		if (!gb->dwarf)
			return -ENODATA;
	}
	while (!all_found(f, n) &&
	       dwarf_nextcu(gb->dwarf, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, d;

		if (dwarf_offdie(gb->dwarf, off + hsize, &cu) && dwarf_child(&cu, &d) == 0) {
			do {
				const char *name;

				if (dwarf_tag(&d) != DW_TAG_structure_type)
					continue;
				name = dwarf_diename(&d);
				if (name && wanted(name, f, n))
					scan_struct(&d, name, f, n);
			} while (dwarf_siblingof(&d, &d) == 0);
		}
		off = next;
	}
	return 0;
}

/*
 * Offsets for binaries without DWARF. Measured from the DWARF of binaries
 * built by Go 1.19 and 1.23 (tests/unit/test_gobin.c checks that the table
 * agrees with them); the other rows follow runtime2.go and
 * net/http/transport.go of their release: g.goid sits after the same
 * fields from 1.17 to 1.22, and 1.23 added g.syscallbp before it.
 * parentGoid (1.21+) is listed only where measured; without it the probes
 * take the parent from runtime.newproc1's arguments instead.
 */
struct go_row {
	unsigned minor_lo, minor_hi; /* Go 1.lo to 1.hi */
	const char *type, *member;
	int64_t offset;
};

static const struct go_row go_table[] = {
	{ 17, 22, "runtime.g", "goid", 152 },
	{ 23, 23, "runtime.g", "goid", 160 },
	{ 23, 23, "runtime.g", "parentGoid", 280 },
	{ 17, 23, "net/http.transportRequest", "Request", 0 },
	{ 17, 23, "net/http.response", "conn", 0 },
	{ 17, 23, "net/http.conn", "rwc", 16 },
	{ 17, 23, "net.TCPConn", "conn", 0 },
	{ 17, 23, "net.conn", "fd", 0 },
	{ 17, 23, "net.netFD", "pfd", 0 },
	{ 17, 23, "internal/poll.FD", "Sysfd", 16 },
};

int tw_go_table_fields(unsigned major, unsigned minor, struct tw_gofield *f, size_t n)
{
	bool known = false;

	for (size_t i = 0; i < n; i++)
		f[i].offset = -1;
	if (major != 1)
		return -ENOENT;
	for (size_t r = 0; r < sizeof(go_table) / sizeof(go_table[0]); r++) {
		const struct go_row *row = &go_table[r];

		if (minor < row->minor_lo || minor > row->minor_hi)
			continue;
		known = true;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(f[i].type, row->type) && !strcmp(f[i].member, row->member))
				f[i].offset = row->offset;
	}
	return known ? 0 : -ENOENT;
}
