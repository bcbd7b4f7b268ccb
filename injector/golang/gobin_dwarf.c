// SPDX-License-Identifier: BSD-2-Clause
/*
 * Struct member offsets for the Go probes: from the binary's own DWARF
 * (libdw), else from a table by Go version for binaries built with -w.
 */
#include "gobin_int.h"
#include "gobudget.h"

#include <errno.h>
#include <string.h>

/*
 * libdw inflates every compressed DWARF section when it opens them, and a
 * section header may claim any size: a few hundred KB of a crafted file
 * would become gigabytes of memory. DWARF that inflates beyond this is not
 * read (the version table gives the offsets instead); tracewire's own Go
 * test servers have 6-7 MB, Go binaries of 100 MB about as much as their
 * size.
 */
#define DWARF_INFLATED_MAX (128ull << 20)

/* Bytes the compressed debug sections inflate to, per their headers. */
static uint64_t dwarf_inflated_size(Elf *elf)
{
	Elf_Data *names = tw_gobin_shstrtab(elf);
	Elf_Scn *scn = NULL;
	uint64_t total = 0;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;
		GElf_Chdr chdr;
		Elf_Data *raw;
		uint64_t size = 0;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		if ((shdr.sh_flags & SHF_COMPRESSED) &&
		    tw_gobin_name_has_prefix(names, shdr.sh_name, ".debug_")) {
			if (gelf_getchdr(scn, &chdr))
				size = chdr.ch_size;
		} else if (tw_gobin_name_has_prefix(names, shdr.sh_name, ".zdebug_")) {
			/* GNU style: "ZLIB" and the size, big-endian */
			raw = elf_rawdata(scn, NULL);
			if (raw && raw->d_buf && raw->d_size >= 12 && !memcmp(raw->d_buf, "ZLIB", 4))
				for (int i = 0; i < 8; i++)
					size = size << 8 | ((const uint8_t *)raw->d_buf)[4 + i];
		}
		if (size > DWARF_INFLATED_MAX - total || tw_gobudget_over())
			return UINT64_MAX;
		total += size;
	}
	return total;
}

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
	} while (!tw_gobudget_over() && dwarf_siblingof(&m, &m) == 0);
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
	if (!gb->dwarf && dwarf_inflated_size(gb->elf) > DWARF_INFLATED_MAX)
		return -EFBIG;
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
			} while (!tw_gobudget_over() && dwarf_siblingof(&d, &d) == 0);
		}
		off = next;
		if (tw_gobudget_over())
			return -ETIMEDOUT;
	}
	return 0;
}

/*
 * Offsets for binaries without DWARF. Measured from the DWARF of binaries
 * built by Go 1.19 and 1.23 (tests/unit/test_gobin.c checks that the table
 * agrees with them); the other rows follow runtime2.go and
 * net/http/transport.go, net/fd_posix.go, internal/poll/fd_unix.go and
 * crypto/tls/conn.go of their release: g.goid sits after the same
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
	/* Go HTTPS: a *tls.Conn's socket (conn is its first field in every
	 * release); netFD's family and sotype follow a poll.FD of 56 bytes
	 * (1.23 renamed iovecs to SysFile, same size) */
	{ 17, 23, "crypto/tls.Conn", "conn", 0 },
	{ 17, 23, "net.netFD", "family", 56 },
	{ 17, 23, "net.netFD", "sotype", 64 },
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
