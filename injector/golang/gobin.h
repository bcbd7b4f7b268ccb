/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Reading Go executables (docs/go.md): is it Go, which version, where are
 * its functions (.symtab, else .gopclntab), where are the fields the Go
 * probes read (DWARF, else a table by Go version), where does a function's
 * body start and where are its RET instructions (capstone). x86-64 only.
 *
 * Everything here works on the file alone: no process, no BPF, so the unit
 * tests run it against binaries built by the Go toolchains.
 */
#ifndef TW_GOBIN_H
#define TW_GOBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tw_gobin;

/* Opens an ELF executable read-only. 0; -ENOEXEC when it is no x86-64 ELF
 * executable; other negative errno (open, libelf). */
int tw_gobin_open(const char *path, struct tw_gobin **out);
/* The same on an open file: fd stays the caller's (open until the close).
 * Everything read is read from this one file (pread and mmap of fd). */
int tw_gobin_open_fd(int fd, struct tw_gobin **out);
void tw_gobin_close(struct tw_gobin *gb);

/* Go build info (.go.buildinfo) or the Go build id note is present. */
bool tw_gobin_is_go(const struct tw_gobin *gb);
/* "go1.19.8", or "" when the build info could not be read. */
const char *tw_gobin_version(const struct tw_gobin *gb);
bool tw_gobin_has_symtab(const struct tw_gobin *gb);
bool tw_gobin_has_dwarf(const struct tw_gobin *gb);

struct tw_gofunc {
	uint64_t addr;      /* virtual address of the first instruction */
	uint64_t size;      /* bytes; from .gopclntab: up to the next function */
	bool from_pclntab;  /* .symtab had no such symbol (stripped binary) */
};

/* A function by its Go symbol name ("net/http.(*Request).write"): from
 * .symtab when there is one, else from .gopclntab. 0 or -ENOENT. */
int tw_gobin_func(struct tw_gobin *gb, const char *name, struct tw_gofunc *out);
/* The link-time address of data symbol name (an itab) in .symtab, for a
 * non-PIE executable (ET_EXEC: where it also is at run time); -ENOENT
 * otherwise. */
int tw_gobin_object(struct tw_gobin *gb, const char *name, uint64_t *addr);

/* File offset of a virtual address in a PT_LOAD segment (what uprobes take). */
int tw_gobin_file_offset(const struct tw_gobin *gb, uint64_t addr, uint64_t *off);
/* len bytes at virtual address addr, from the file. 0 or -EFAULT/-EIO. */
int tw_gobin_read(const struct tw_gobin *gb, uint64_t addr, void *buf, size_t len);

/* A struct member's byte offset: "runtime.g" / "goid". */
struct tw_gofield {
	const char *type;
	const char *member;
	int64_t offset; /* out: -1 when not found */
};

/* Fills f[i].offset from the binary's DWARF in one pass over its
 * compilation units. 0 (members not found keep -1); -ENODATA when the
 * binary has no DWARF (-w); -EFBIG when its compressed DWARF would inflate
 * to more than 128 MiB (not read: a crafted header can claim any size);
 * other negative errno. */
int tw_gobin_dwarf_fields(struct tw_gobin *gb, struct tw_gofield *f, size_t n);
/* The same from tracewire's table for Go major.minor (binaries without
 * DWARF). 0 when the version is in the table (members it does not know keep
 * -1); -ENOENT when it is not. */
int tw_go_table_fields(unsigned major, unsigned minor, struct tw_gofield *f, size_t n);

/* Virtual addresses of the function's RET instructions, in order. Returns
 * how many (at most max), -E2BIG when there are more, -EILSEQ when the
 * bytes do not decode to the end of the function. */
int tw_gobin_rets(struct tw_gobin *gb, const struct tw_gofunc *f, uint64_t *out, size_t max);

/*
 * A function's stack-bound check: `cmp rsp|r12, [r14+0x10]` (g.stackguard0)
 * and the conditional jump to morestack, within its first instructions.
 * When the stack must grow, morestack re-runs the function from its entry
 * with the same arguments, so an entry probe fires twice. A probe on the
 * jump fires each time too, but sees in the flags whether this pass goes
 * to morestack (taken) or into the body: once per call, counted right. And
 * the kernel emulates a conditional jump where it single-steps most other
 * instructions (measured here: a probe on the body's first instruction
 * cost 30-35 us per hit, one on the jump under 10). At the jump the
 * argument registers and r14 hold what they held at entry (the check
 * writes r12 at most).
 */
struct tw_goentry {
	uint64_t branch;  /* the jbe/jb; 0: no check (a NOSPLIT function) */
	bool branch_jb;   /* jb: taken on CF; jbe: on CF or ZF */
	uint64_t body;    /* the instruction after it, or the entry without a check */
};

int tw_gobin_entry(struct tw_gobin *gb, const struct tw_gofunc *f, struct tw_goentry *out);
/* The first `call rel32` to target in the function (the call form uprobes
 * emulate). 0, -ENOENT, or -EILSEQ. */
int tw_gobin_call_to(struct tw_gobin *gb, const struct tw_gofunc *f, uint64_t target,
		     uint64_t *out);

/* ---- pure helpers (unit-tested on their own) ---------------------------- */

/* "go1.21.3", "go1.22rc1", "go1.9" -> major 1, minor 21/22/9. 0 or -EINVAL. */
int tw_go_parse_version(const char *s, unsigned *major, unsigned *minor);
/* The version string of a .go.buildinfo section in the Go 1.18+ layout
 * (inline, length-prefixed strings). 0; -ENOTSUP for the older layout
 * (pointers into the data segment, tw_gobin_open follows them); -EINVAL. */
int tw_go_buildinfo_version(const uint8_t *data, size_t len, char *out, size_t outlen);
/* A function in a .gopclntab (layouts of Go 1.16 to 1.24: magic 0xfffffffa,
 * 0xfffffff0, 0xfffffff1). text_addr: the .text section's address, used by
 * the layouts whose header has none. 0, -ENOENT, or -EINVAL (not a table
 * this understands). */
int tw_gopclntab_find(const uint8_t *tab, size_t len, uint64_t text_addr, const char *name,
		      uint64_t *entry, uint64_t *size);
/* tw_gobin_rets / _entry / _call_to on code bytes loaded at addr. */
int tw_x86_rets(const uint8_t *code, size_t len, uint64_t addr, uint64_t *out, size_t max);
int tw_x86_entry(const uint8_t *code, size_t len, uint64_t addr, struct tw_goentry *out);
int tw_x86_call_to(const uint8_t *code, size_t len, uint64_t addr, uint64_t target, uint64_t *out);

#endif
