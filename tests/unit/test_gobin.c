// SPDX-License-Identifier: BSD-2-Clause
/*
 * Go executables (injector/gobin*.c, goplan.c): on binaries the Makefile
 * builds from tests/integration/servers/go_mid.go with each Go toolchain
 * present, plain, -w and -s -w (build/gofixtures; TW_GOFIXTURES overrides).
 * Addresses are checked against `go tool nm` (the .nm listings built with
 * them), RET counts against `objdump -d`, offsets between DWARF and the
 * version table. The pure parsers get hand-made input too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "gobin.h"
#include "goplan.h"
#include "procsel.h"
#include "tracewire_go.h"

static const char *const versions[] = { "119", "123" };
static const char *const variants[] = { "plain", "w", "sw" };
static const char *const funcs[] = {
	"net/http.serverHandler.ServeHTTP", "net/http.(*persistConn).roundTrip",
	"net/http.(*Request).write",        "net/http.persistConnWriter.Write",
	"runtime.newproc1",                 "net/http.(*Transport).roundTrip",
	"net/http.(*connReader).Read",      "crypto/tls.(*Conn).Read",
	"crypto/tls.(*Conn).Write",
};

static const char *fixdir(void)
{
	const char *d = getenv("TW_GOFIXTURES");

	return d && *d ? d : "build/gofixtures";
}

static bool fixture(char *buf, size_t len, const char *ver, const char *variant)
{
	snprintf(buf, len, "%s/mid_go%s_%s", fixdir(), ver, variant);
	return access(buf, R_OK) == 0;
}

/* Address and size of sym in a `go tool nm -size` listing. */
static bool nm_lookup(const char *nmfile, const char *sym, uint64_t *addr, uint64_t *size)
{
	FILE *f = fopen(nmfile, "r");
	char line[1024], name[512], type[8];
	unsigned long long a, s;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %llu %7s %511[^\n]", &a, &s, type, name) == 4 &&
		    !strcmp(name, sym)) {
			*addr = a;
			*size = s;
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* RET instructions objdump sees in [addr, addr + size) of path. */
static int objdump_rets(const char *path, uint64_t addr, uint64_t size)
{
	char cmd[1024], line[512];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd),
		 "objdump -d --no-show-raw-insn --start-address=0x%" PRIx64
		 " --stop-address=0x%" PRIx64 " '%s'", addr, addr + size, path);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		char *tab = strrchr(line, '\t');

		if (tab && !strncmp(tab + 1, "ret", 3) && (tab[4] == '\n' || tab[4] == ' '))
			n++;
	}
	return pclose(p) == 0 ? n : -1;
}

/* Does objdump see an instruction with this mnemonic at addr? 1, 0, -1. */
static int objdump_insn_at(const char *path, uint64_t addr, const char *mnemonic)
{
	char cmd[1024], line[512], want[32];
	FILE *p;
	int found = 0;

	snprintf(cmd, sizeof(cmd),
		 "objdump -d --no-show-raw-insn --start-address=0x%" PRIx64
		 " --stop-address=0x%" PRIx64 " '%s'", addr, addr + 16, path);
	snprintf(want, sizeof(want), "%" PRIx64 ":\t%s", addr, mnemonic);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		if (strstr(line, want))
			found = 1;
	return pclose(p) == 0 ? found : -1;
}

/* ---- pure parsers ---------------------------------------------------------- */

static void go_versions(void **state)
{
	unsigned a, b;

	(void)state;
	assert_int_equal(tw_go_parse_version("go1.19.8", &a, &b), 0);
	assert_int_equal(a, 1);
	assert_int_equal(b, 19);
	assert_int_equal(tw_go_parse_version("go1.23.5", &a, &b), 0);
	assert_int_equal(b, 23);
	assert_int_equal(tw_go_parse_version("go1.22rc1", &a, &b), 0);
	assert_int_equal(b, 22);
	assert_int_equal(tw_go_parse_version("go1.21beta2", &a, &b), 0);
	assert_int_equal(tw_go_parse_version("go1.24.0 X:boringcrypto", &a, &b), 0);
	assert_int_equal(b, 24);
	assert_int_equal(tw_go_parse_version("go1.9", &a, &b), 0);
	assert_int_equal(b, 9);
	assert_int_equal(tw_go_parse_version("devel go1.24-abc", &a, &b), -EINVAL);
	assert_int_equal(tw_go_parse_version("go1", &a, &b), -EINVAL);
	assert_int_equal(tw_go_parse_version("go1.x", &a, &b), -EINVAL);
	assert_int_equal(tw_go_parse_version("", &a, &b), -EINVAL);
	assert_int_equal(tw_go_parse_version("go1.19z", &a, &b), -EINVAL);
}

static void buildinfo_layouts(void **state)
{
	uint8_t bi[64] = "\xff Go buildinf:";
	char v[32];

	(void)state;
	bi[14] = 8;
	bi[15] = 2; /* inline strings (1.18+) */
	bi[32] = 8;
	memcpy(bi + 33, "go1.21.0", 8);
	assert_int_equal(tw_go_buildinfo_version(bi, sizeof(bi), v, sizeof(v)), 0);
	assert_string_equal(v, "go1.21.0");
	/* too small an output buffer, a length past the end */
	assert_int_equal(tw_go_buildinfo_version(bi, sizeof(bi), v, 8), -EINVAL);
	bi[32] = 40;
	assert_int_equal(tw_go_buildinfo_version(bi, sizeof(bi), v, sizeof(v)), -EINVAL);
	/* the pointer layout of older releases is not parsed here */
	bi[15] = 0;
	assert_int_equal(tw_go_buildinfo_version(bi, sizeof(bi), v, sizeof(v)), -ENOTSUP);
	bi[1] = 'X';
	assert_int_equal(tw_go_buildinfo_version(bi, sizeof(bi), v, sizeof(v)), -EINVAL);
	assert_int_equal(tw_go_buildinfo_version(bi, 10, v, sizeof(v)), -EINVAL);
}

/* A Go 1.20 table by hand: two functions, names, text start. */
static void pclntab_by_hand(void **state)
{
	uint8_t t[256] = { 0 };
	uint64_t nfunc = 2, text = 0x401000, fnoff = 96, pcoff = 128, entry, size;
	uint32_t ft[6] = { 0x0, 24, 0x40, 32, 0x60, 0 }; /* entryoff, funcoff; end */
	uint32_t f0[2] = { 0x0, 0 }, f1[2] = { 0x40, 7 }; /* entryOff, nameOff */

	(void)state;
	memcpy(t, "\xf1\xff\xff\xff", 4);
	t[6] = 1;
	t[7] = 8;
	memcpy(t + 8, &nfunc, 8);
	memcpy(t + 24, &text, 8);
	memcpy(t + 32, &fnoff, 8);
	memcpy(t + 64, &pcoff, 8);
	memcpy(t + 96, "main.a\0main.b", 14);
	memcpy(t + 128, ft, sizeof(ft));
	memcpy(t + 128 + 24, f0, sizeof(f0));
	memcpy(t + 128 + 32, f1, sizeof(f1)); /* "main.b" is at funcnametab + 7 */
	assert_int_equal(tw_gopclntab_find(t, sizeof(t), 0, "main.a", &entry, &size), 0);
	assert_int_equal(entry, 0x401000);
	assert_int_equal(size, 0x40);
	assert_int_equal(tw_gopclntab_find(t, sizeof(t), 0, "main.b", &entry, &size), 0);
	assert_int_equal(entry, 0x401040);
	assert_int_equal(size, 0x20);
	assert_int_equal(tw_gopclntab_find(t, sizeof(t), 0, "main.c", &entry, &size), -ENOENT);
	/* truncated, unknown magic */
	assert_int_equal(tw_gopclntab_find(t, 100, 0, "main.a", &entry, &size), -EINVAL);
	t[0] = 0xf5;
	assert_int_equal(tw_gopclntab_find(t, sizeof(t), 0, "main.a", &entry, &size), -EINVAL);
	assert_int_equal(tw_gopclntab_find(t, 4, 0, "main.a", &entry, &size), -EINVAL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A crafted table (issue 16's reproducer, scaled down): 128k functions
 * whose names all point at 1 MiB of name bytes without a NUL. The lookup
 * looked for each name's NUL first: 128k x 1 MiB read, tens of seconds here
 * (minutes for a table of a few MB), for one function name, on the event
 * loop. Now each entry costs a compare of the wanted name's length.
 */
static void pclntab_crafted_is_linear(void **state)
{
	const size_t n = 128 * 1024, names = 1u << 20;
	const uint64_t pcoff = 128, text = 0x401000;
	const uint64_t funcs_at = (n + 1) * 8;  /* the two _func records, from functab */
	const uint64_t fnoff = pcoff + funcs_at + 16;
	const size_t len = fnoff + names;
	uint8_t *t = calloc(1, len);
	uint64_t nf = n, entry, size;
	double t0, dt;

	(void)state;
	assert_non_null(t);
	memcpy(t, "\xf1\xff\xff\xff", 4);
	t[6] = 1;
	t[7] = 8;
	memcpy(t + 8, &nf, 8);
	memcpy(t + 24, &text, 8);
	memcpy(t + 32, &fnoff, 8);
	memcpy(t + 64, &pcoff, 8);
	for (size_t i = 0; i <= n; i++) {
		uint32_t e[2] = { (uint32_t)(i * 16), (uint32_t)(i == n - 1 ? funcs_at + 8 : funcs_at) };

		memcpy(t + pcoff + i * 8, e, 8);
	}
	/* _func A: named by the unterminated bytes; _func B: "main.f" */
	memcpy(t + pcoff + funcs_at, (uint32_t[2]){ 0, 7 }, 8);
	memcpy(t + pcoff + funcs_at + 8, (uint32_t[2]){ 0, 0 }, 8);
	memcpy(t + fnoff, "main.f", 7);
	memset(t + fnoff + 7, 'x', names - 7);

	t0 = now_s();
	assert_int_equal(tw_gopclntab_find(t, len, 0, "runtime.newproc1", &entry, &size), -ENOENT);
	assert_int_equal(tw_gopclntab_find(t, len, 0, "xxxxxxxx", &entry, &size), -ENOENT);
	assert_int_equal(tw_gopclntab_find(t, len, 0, "main.f", &entry, &size), 0);
	dt = now_s() - t0;
	assert_int_equal(entry, text + (n - 1) * 16);
	assert_int_equal(size, 16);
	if (dt > 2.0) {
		print_error("three lookups took %.1f s: not linear in the table size\n", dt);
		fail();
	}
	free(t);
}

/*
 * An x86-64 ELF executable with one PT_LOAD and a symbol table of nsyms
 * functions whose names all start at byte 1 of a string table of strsz
 * bytes that has no NUL after byte 0. Returns the path of a temporary file.
 */
static char *crafted_symtab_elf(size_t nsyms, size_t strsz)
{
	static const char shstr[] = "\0.symtab\0.strtab\0.shstrtab";
	const size_t sym_off = 256, str_off = sym_off + nsyms * sizeof(Elf64_Sym);
	const size_t sh_off = (str_off + strsz + 7) & ~(size_t)7;
	const size_t len = sh_off + 4 * sizeof(Elf64_Shdr);
	uint8_t *img = calloc(1, len);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + sh_off);
	char *path = strdup("/tmp/tw-test-gobin-XXXXXX");
	int fd;

	assert_non_null(img);
	assert_non_null(path);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(*eh);
	eh->e_shoff = sh_off;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	eh->e_shentsize = sizeof(*sh);
	eh->e_shnum = 4;
	eh->e_shstrndx = 3;
	*ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_vaddr = 0x400000,
			    .p_filesz = 4096, .p_memsz = 4096, .p_align = 4096 };
	memcpy(img + 128, shstr, sizeof(shstr));
	for (size_t i = 1; i < nsyms; i++) {
		Elf64_Sym *sym = (Elf64_Sym *)(img + sym_off) + i;

		sym->st_name = 1;
		sym->st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
		sym->st_value = 0x401000 + i;
		sym->st_size = 1;
	}
	memset(img + str_off + 1, 'x', strsz - 1);
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_SYMTAB, .sh_offset = sym_off,
			      .sh_size = nsyms * sizeof(Elf64_Sym), .sh_link = 2,
			      .sh_entsize = sizeof(Elf64_Sym), .sh_addralign = 8 };
	sh[2] = (Elf64_Shdr){ .sh_name = 9, .sh_type = SHT_STRTAB, .sh_offset = str_off,
			      .sh_size = strsz, .sh_addralign = 1 };
	sh[3] = (Elf64_Shdr){ .sh_name = 17, .sh_type = SHT_STRTAB, .sh_offset = 128,
			      .sh_size = sizeof(shstr), .sh_addralign = 1 };
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, img, len), (ssize_t)len);
	close(fd);
	free(img);
	return path;
}

/*
 * The same kind of crafted input for .symtab: 32k function symbols named by
 * 2 MiB of string table without a NUL. elf_strptr() searched each name's
 * table for a NUL from its end: 32k x 2 MiB read per function looked up,
 * seconds here, minutes at the sizes of a real binary. Now each symbol
 * costs a compare of the wanted name's length.
 */
static void symtab_crafted_is_linear(void **state)
{
	char *path = crafted_symtab_elf(32 * 1024, 2u << 20);
	struct tw_gobin *gb;
	struct tw_gofunc f;
	double t0, dt;

	(void)state;
	assert_int_equal(tw_gobin_open(path, &gb), 0);
	assert_true(tw_gobin_has_symtab(gb));
	t0 = now_s();
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		assert_int_equal(tw_gobin_func(gb, funcs[i], &f), -ENOENT);
	dt = now_s() - t0;
	tw_gobin_close(gb);
	unlink(path);
	free(path);
	if (dt > 2.0) {
		print_error("%zu lookups took %.1f s: not linear in the symbol table size\n",
			    sizeof(funcs) / sizeof(funcs[0]), dt);
		fail();
	}
}

/*
 * An x86-64 ELF executable with one compressed .debug_info section whose
 * header claims it inflates to `claimed` bytes (the stream holds a few).
 */
static char *crafted_dwarf_elf(uint64_t claimed)
{
	static const char shstr[] = "\0.debug_info\0.shstrtab";
	uint8_t z[64];
	uLongf zlen = sizeof(z);
	const size_t data_off = 128, str_off = 256, sh_off = 320;
	const size_t len = sh_off + 3 * sizeof(Elf64_Shdr);
	uint8_t *img = calloc(1, len);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + sh_off);
	Elf64_Chdr ch = { .ch_type = ELFCOMPRESS_ZLIB, .ch_size = claimed, .ch_addralign = 1 };
	char *path = strdup("/tmp/tw-test-gobin-XXXXXX");
	int fd;

	assert_non_null(img);
	assert_non_null(path);
	assert_int_equal(compress(z, &zlen, (const Bytef *)"tiny", 4), Z_OK);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(*eh);
	eh->e_shoff = sh_off;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	eh->e_shentsize = sizeof(*sh);
	eh->e_shnum = 3;
	eh->e_shstrndx = 2;
	*ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R, .p_vaddr = 0x400000,
			    .p_filesz = len, .p_memsz = len, .p_align = 4096 };
	memcpy(img + data_off, &ch, sizeof(ch));
	memcpy(img + data_off + sizeof(ch), z, zlen);
	memcpy(img + str_off, shstr, sizeof(shstr));
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS, .sh_flags = SHF_COMPRESSED,
			      .sh_offset = data_off, .sh_size = sizeof(ch) + zlen, .sh_addralign = 8 };
	sh[2] = (Elf64_Shdr){ .sh_name = 13, .sh_type = SHT_STRTAB, .sh_offset = str_off,
			      .sh_size = sizeof(shstr), .sh_addralign = 1 };
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, img, len), (ssize_t)len);
	close(fd);
	free(img);
	return path;
}

/*
 * libdw inflates compressed DWARF sections when it opens them, to the size
 * their header claims: a crafted one made it allocate whatever it said
 * (gigabytes from a few hundred KB of zlib). DWARF that claims more than
 * 128 MiB is not read now; the version table is used instead.
 */
static void dwarf_size_budget(void **state)
{
	struct tw_gofield f[] = { { "runtime.g", "goid", 5 } };
	uint64_t sizes[] = { 1ull << 30, UINT64_MAX, 4 };
	int want[] = { -EFBIG, -EFBIG, 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *path = crafted_dwarf_elf(sizes[i]);
		struct tw_gobin *gb;
		int err;

		assert_int_equal(tw_gobin_open(path, &gb), 0);
		assert_true(tw_gobin_has_dwarf(gb));
		err = tw_gobin_dwarf_fields(gb, f, 1);
		/* within the budget, libdw gets it (and finds no unit in "tiny") */
		if (want[i])
			assert_int_equal(err, want[i]);
		else
			assert_int_not_equal(err, -EFBIG);
		assert_int_equal(f[0].offset, -1);
		tw_gobin_close(gb);
		unlink(path);
		free(path);
	}
}

static void x86_by_hand(void **state)
{
	/* cmp rsp,[r14+0x10]; jbe +0x10; sub rsp,0x18; ret; int3; ...; jmp back */
	static const uint8_t small[] = { 0x49, 0x3b, 0x66, 0x10, 0x76, 0x05, 0x48, 0x83,
					 0xec, 0x18, 0xc3, 0xcc, 0xcc };
	/* lea r12,[rsp-0x28]; cmp r12,[r14+0x10]; jbe ...; ret; ret */
	static const uint8_t big[] = { 0x4c, 0x8d, 0x64, 0x24, 0xd8, 0x4d, 0x3b, 0x66, 0x10,
				       0x0f, 0x86, 0x10, 0x00, 0x00, 0x00, 0xc3, 0xc3 };
	/* no stack check (nosplit): mov rax, rbx; ret */
	static const uint8_t leaf[] = { 0x48, 0x89, 0xd8, 0xc3 };
	/* mov rbx, rax; call +0x10 (to 0x4017); nop; call -0x0a (to 0x3ffe... ) */
	static const uint8_t calls[] = { 0x48, 0x89, 0xc3, 0xe8, 0x0f, 0x00, 0x00, 0x00, 0x90,
					 0xe8, 0xf2, 0xff, 0xff, 0xff, 0xc3 };
	struct tw_goentry e;
	uint64_t rets[4], at;

	(void)state;
	assert_int_equal(tw_x86_entry(small, sizeof(small), 0x1000, &e), 0);
	assert_int_equal(e.branch, 0x1004);
	assert_false(e.branch_jb);
	assert_int_equal(e.body, 0x1006);
	assert_int_equal(tw_x86_rets(small, sizeof(small), 0x1000, rets, 4), 1);
	assert_int_equal(rets[0], 0x100a);
	assert_int_equal(tw_x86_entry(big, sizeof(big), 0x2000, &e), 0);
	assert_int_equal(e.branch, 0x2009);
	assert_int_equal(e.body, 0x200f);
	assert_int_equal(tw_x86_rets(big, sizeof(big), 0x2000, rets, 4), 2);
	assert_int_equal(rets[1], 0x2010);
	assert_int_equal(tw_x86_rets(big, sizeof(big), 0x2000, rets, 1), -E2BIG);
	assert_int_equal(tw_x86_entry(leaf, sizeof(leaf), 0x3000, &e), 0);
	assert_int_equal(e.branch, 0);
	assert_int_equal(e.body, 0x3000);
	/* call rel32 targets: 0x4003 + 5 + 0x0f, 0x4009 + 5 - 0x0e */
	assert_int_equal(tw_x86_call_to(calls, sizeof(calls), 0x4000, 0x4017, &at), 0);
	assert_int_equal(at, 0x4003);
	assert_int_equal(tw_x86_call_to(calls, sizeof(calls), 0x4000, 0x4000, &at), 0);
	assert_int_equal(at, 0x4009);
	assert_int_equal(tw_x86_call_to(calls, sizeof(calls), 0x4000, 0x5000, &at), -ENOENT);
	/* cut in the middle of an instruction */
	assert_int_equal(tw_x86_rets(big, 3, 0x2000, rets, 4), -EILSEQ);
}

static void procsel_helpers(void **state)
{
	char cg[] = "12:pids:/x\n1:name=systemd:/y\n0::/tracewire-lab.a/m1\n";
	char none[] = "1:cpu:/\n";
	const char *stat = "123 (go (mid) x) S 1 123 123 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 "
			   "7 0 987654 1000 10\n";
	uint64_t st;

	(void)state;
	assert_true(tw_path_under("/sys/fs/cgroup/a/b", "/sys/fs/cgroup/a"));
	assert_true(tw_path_under("/sys/fs/cgroup/a", "/sys/fs/cgroup/a/"));
	assert_false(tw_path_under("/sys/fs/cgroup/ab", "/sys/fs/cgroup/a"));
	assert_false(tw_path_under("/sys/fs/cgroup", "/sys/fs/cgroup/a"));
	assert_string_equal(tw_cgroup2_line(cg), "/tracewire-lab.a/m1");
	assert_null(tw_cgroup2_line(none));
	assert_int_equal(tw_stat_starttime(stat, &st), 0);
	assert_int_equal(st, 987654);
	assert_int_equal(tw_stat_starttime("1 (x) S 1 2", &st), -EINVAL);
	assert_int_equal(tw_stat_starttime("no parenthesis", &st), -EINVAL);
}

static void table_rows(void **state)
{
	struct tw_gofield f[] = { { "runtime.g", "goid", 0 }, { "runtime.g", "parentGoid", 0 },
				  { "nope.t", "x", 0 } };

	(void)state;
	assert_int_equal(tw_go_table_fields(1, 19, f, 3), 0);
	assert_int_equal(f[0].offset, 152);
	assert_int_equal(f[1].offset, -1);
	assert_int_equal(f[2].offset, -1);
	assert_int_equal(tw_go_table_fields(1, 23, f, 3), 0);
	assert_int_equal(f[0].offset, 160);
	assert_int_equal(tw_go_table_fields(1, 16, f, 3), -ENOENT);
	assert_int_equal(tw_go_table_fields(1, 99, f, 3), -ENOENT);
	assert_int_equal(tw_go_table_fields(2, 0, f, 3), -ENOENT);
}

/* ---- real binaries ------------------------------------------------------------ */

static void not_go(void **state)
{
	struct tw_gobin *gb;
	struct tw_goplan plan;

	(void)state;
	assert_int_equal(tw_gobin_open("/bin/sh", &gb), 0);
	assert_false(tw_gobin_is_go(gb));
	tw_gobin_close(gb);
	assert_int_equal(tw_gobin_open("Makefile", &gb), -ENOEXEC);
	assert_int_equal(tw_gobin_open("/nonexistent/x", &gb), -ENOENT);
	assert_int_equal(tw_goplan_build("/bin/sh", &plan), -ENOTSUP);
	assert_string_equal(plan.why, "not a Go binary");
	assert_int_equal(tw_goplan_build("Makefile", &plan), -ENOTSUP);
}

/* Each fixture: Go, its version, where symbols and DWARF are. */
static void fixture_basics(void **state)
{
	char path[512];
	int seen = 0;

	(void)state;
	for (size_t v = 0; v < 2; v++) {
		for (size_t k = 0; k < 3; k++) {
			struct tw_gobin *gb;
			char want[16];

			if (!fixture(path, sizeof(path), versions[v], variants[k]))
				continue;
			seen++;
			assert_int_equal(tw_gobin_open(path, &gb), 0);
			assert_true(tw_gobin_is_go(gb));
			snprintf(want, sizeof(want), "go1.%s.", versions[v] + 1);
			if (strncmp(tw_gobin_version(gb), want, strlen(want)))
				fail_msg("%s: version '%s', expected %s*", path, tw_gobin_version(gb), want);
			assert_int_equal(tw_gobin_has_symtab(gb), k != 2);
			assert_int_equal(tw_gobin_has_dwarf(gb), k == 0);
			tw_gobin_close(gb);
		}
	}
	if (!seen)
		skip();
}

/* Addresses from .symtab and from .gopclntab match `go tool nm`; RETs match
 * objdump; the body starts right after the jump to morestack. */
static void fixture_functions(void **state)
{
	char path[512], nm[520], plain[512];

	(void)state;
	for (size_t v = 0; v < 2; v++) {
		if (!fixture(plain, sizeof(plain), versions[v], "plain"))
			continue;
		snprintf(nm, sizeof(nm), "%s.nm", plain);
		for (size_t k = 0; k < 3; k++) {
			struct tw_gobin *gb;

			if (!fixture(path, sizeof(path), versions[v], variants[k]))
				continue;
			assert_int_equal(tw_gobin_open(path, &gb), 0);
			for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
				uint64_t a = 0, s = 0, rets[64], end;
				struct tw_goentry e;
				struct tw_gofunc f;
				int n, want;

				assert_true(nm_lookup(nm, funcs[i], &a, &s));
				if (tw_gobin_func(gb, funcs[i], &f))
					fail_msg("%s: %s not found", path, funcs[i]);
				assert_int_equal(f.from_pclntab, k == 2);
				if (f.addr != a)
					fail_msg("%s: %s at %#" PRIx64 ", go tool nm says %#" PRIx64, path,
						 funcs[i], f.addr, a);
				/* .gopclntab sizes run to the next function (padding) */
				if (k == 2 ? (f.size < s || f.size >= s + 64) : f.size != s)
					fail_msg("%s: %s size %" PRIu64 ", go tool nm says %" PRIu64, path,
						 funcs[i], f.size, s);
				n = tw_gobin_rets(gb, &f, rets, 64);
				want = objdump_rets(plain, a, s);
				if (n != want || n < 1)
					fail_msg("%s: %s: %d RETs, objdump counts %d", path, funcs[i], n, want);
				for (int r = 0; r < n; r++)
					assert_true(rets[r] >= a && rets[r] < a + s);
				assert_int_equal(tw_gobin_entry(gb, &f, &e), 0);
				/* after cmp [r14+0x10] (4 bytes), at most a lea r12 (5 or 8)
				 * before it; then jbe (2 or 6) */
				assert_true(e.branch >= a + 4 && e.branch <= a + 8 + 4);
				assert_true(e.body == e.branch + 2 || e.body == e.branch + 6);
				assert_false(e.branch_jb);
				assert_int_equal(objdump_insn_at(plain, e.branch, "jbe"), 1);
				assert_int_equal(tw_gobin_file_offset(gb, e.branch, &end), 0);
			}
			tw_gobin_close(gb);
		}
	}
}

/* DWARF offsets where there is DWARF, and the table agrees with them. */
static void fixture_fields(void **state)
{
	char path[512];

	(void)state;
	for (size_t v = 0; v < 2; v++) {
		for (size_t k = 0; k < 3; k++) {
			struct tw_gofield f[] = {
				{ "runtime.g", "goid", 0 },
				{ "runtime.g", "parentGoid", 0 },
				{ "net/http.transportRequest", "Request", 0 },
				{ "net/http.response", "conn", 0 },
				{ "net/http.conn", "rwc", 0 },
				{ "net.TCPConn", "conn", 0 },
				{ "net.conn", "fd", 0 },
				{ "net.netFD", "pfd", 0 },
				{ "internal/poll.FD", "Sysfd", 0 },
				{ "crypto/tls.Conn", "conn", 0 },
				{ "net.netFD", "family", 0 },
				{ "net.netFD", "sotype", 0 },
				{ "net/http.Request", "URL", 0 },
				{ "net/url.URL", "Path", 0 },
			}, t[12];
			const size_t nf = sizeof(f) / sizeof(f[0]);
			struct tw_gobin *gb;
			unsigned major, minor;
			int err;

			if (!fixture(path, sizeof(path), versions[v], variants[k]))
				continue;
			assert_int_equal(tw_gobin_open(path, &gb), 0);
			err = tw_gobin_dwarf_fields(gb, f, nf);
			assert_int_equal(tw_go_parse_version(tw_gobin_version(gb), &major, &minor), 0);
			tw_gobin_close(gb);
			if (k) {
				assert_int_equal(err, -ENODATA);
				assert_int_equal(f[0].offset, -1);
				continue;
			}
			assert_int_equal(err, 0);
			assert_true(f[0].offset > 0);
			assert_int_equal(f[1].offset >= 0, minor >= 21);
			assert_int_equal(f[2].offset, 0);
			assert_int_equal(f[nf - 2].offset, 16); /* Method (string), then URL */
			assert_int_equal(f[nf - 1].offset, 56); /* Scheme, Opaque, User, Host, Path */
			/* a *tls.Conn's net.Conn first; netFD: a poll.FD (56 bytes), family, sotype */
			assert_int_equal(f[9].offset, 0);
			assert_int_equal(f[10].offset, 56);
			assert_int_equal(f[11].offset, 64);
			/* the table says what DWARF says, for every row it has */
			memcpy(t, f, sizeof(t));
			assert_int_equal(tw_go_table_fields(major, minor, t, 12), 0);
			for (size_t i = 0; i < 12; i++) {
				if (i == 1 && t[i].offset < 0)
					continue; /* parentGoid: only where measured */
				if (t[i].offset != f[i].offset)
					fail_msg("%s: %s.%s: table %" PRId64 ", DWARF %" PRId64, path,
						 f[i].type, f[i].member, t[i].offset, f[i].offset);
			}
		}
	}
}

/* Each fixture's probes: the kinds expected, entries on the stack checks'
 * jbe, the calls in newproc.func1 where objdump sees them; and the same
 * probes for every variant of one build (the stripped binaries lose
 * symbols and DWARF, not a single probe). */
static void fixture_plans(void **state)
{
	char path[512], plain[512], desc[1024];

	(void)state;
	for (size_t v = 0; v < 2; v++) {
		struct tw_goplan ref, plan;
		bool have_ref = false;

		if (!fixture(plain, sizeof(plain), versions[v], "plain"))
			continue;
		for (size_t k = 0; k < 3; k++) {
			size_t count[TW_GS_KINDS] = { 0 }, n_before;

			if (!fixture(path, sizeof(path), versions[v], variants[k]))
				continue;
			if (tw_goplan_build(path, &plan))
				fail_msg("%s: no plan: %s", path, plan.why);
			tw_goplan_describe(&plan, desc, sizeof(desc));
			assert_true(plan.server);
			assert_int_equal(plan.fields_dwarf, k == 0);
			assert_int_equal(plan.funcs_pclntab, k == 2);
			assert_true(plan.sock_chain);
			/* response.conn 0, conn.rwc 16 (+8: data word), fd 0, Sysfd 16 */
			assert_int_equal(plan.sock_offs[0], 0);
			assert_int_equal(plan.sock_offs[1], 24);
			assert_int_equal(plan.sock_offs[2], 0);
			assert_int_equal(plan.sock_offs[3], 16);
			assert_int_equal(plan.parent_goid_off != 0, plan.minor >= 21);
			/* Go HTTPS: tls.Conn.conn 0 (+8: data word), fd 0, Sysfd 16,
			 * family 56, sotype 64 */
			assert_true(plan.client);
			assert_true(plan.tls);
			assert_true(plan.tls_chain);
			assert_int_equal(plan.tls_offs[0], 8);
			assert_int_equal(plan.tls_offs[1], 0);
			assert_int_equal(plan.tls_offs[2], 16);
			assert_int_equal(plan.tls_offs[3], 56);
			assert_int_equal(plan.tls_offs[4], 64);
			assert_null(strstr(desc, "crypto/tls not probed"));
			for (size_t i = 0; i < plan.n_sites; i++) {
				const struct tw_gosite *st = &plan.sites[i];

				count[st->kind]++;
				if (st->kind == TW_GS_TLS_READ || st->kind == TW_GS_TLS_READ_RET ||
				    st->kind == TW_GS_TLS_WRITE) {
					/* no goid: the cookie holds the tls.Conn -> fd chain */
					assert_int_equal(TW_GO_TLS_CONN(st->cookie), 8);
					assert_int_equal(TW_GO_TLS_TCP_FD(st->cookie), 0);
					assert_int_equal(TW_GO_TLS_SYSFD(st->cookie), 16);
					assert_int_equal(TW_GO_TLS_FAMILY(st->cookie), 56);
					assert_int_equal(TW_GO_TLS_SOTYPE(st->cookie), 64);
					assert_int_equal(!!(st->cookie & TW_GO_COOKIE_TLS_WRITE),
							 st->kind == TW_GS_TLS_WRITE);
					if (st->kind == TW_GS_TLS_READ_RET) {
						assert_int_equal(objdump_insn_at(plain, st->addr, "ret"), 1);
					} else {
						assert_true(st->cookie & TW_GO_COOKIE_AT_JBE);
						assert_int_equal(objdump_insn_at(plain, st->addr, "jbe"), 1);
					}
					continue;
				}
				assert_int_equal(TW_GO_COOKIE_GOID(st->cookie), plan.goid_off);
				assert_int_equal(TW_GO_COOKIE_PARENT(st->cookie), plan.parent_goid_off);
				if (st->kind <= TW_GS_CONNWRITE) {
					assert_true(st->cookie & TW_GO_COOKIE_AT_JBE);
					assert_int_equal(objdump_insn_at(plain, st->addr, "jbe"), 1);
				}
				if (st->kind == TW_GS_SPAWN || st->kind == TW_GS_SPAWN_PARENT)
					assert_int_equal(objdump_insn_at(plain, st->addr, "call"), 1);
				if (st->kind == TW_GS_SERVE) {
					assert_int_equal(TW_GO_COOKIE_CONN_RWC(st->cookie), 24);
					assert_int_equal(TW_GO_COOKIE_NETFD_SYSFD(st->cookie), 16);
				}
			}
			assert_int_equal(count[TW_GS_SERVE], 1);
			assert_int_equal(count[TW_GS_ROUNDTRIP], 1);
			assert_int_equal(count[TW_GS_CONNWRITE], 1);
			assert_int_equal(count[TW_GS_SPAWN], 1);
			/* without parentGoid the parent is taken at newproc1's call */
			assert_int_equal(count[TW_GS_SPAWN_PARENT], plan.minor < 21);
			assert_int_equal(count[TW_GS_NEWPROC] + count[TW_GS_NEWPROC_RET], 0);
			assert_true(count[TW_GS_CONNWRITE_RET] >= 1 && count[TW_GS_CONNREAD_RET] >= 1);
			assert_int_equal(count[TW_GS_TLS_READ], 1);
			assert_int_equal(count[TW_GS_TLS_WRITE], 1);
			assert_true(count[TW_GS_TLS_READ_RET] >= 1);
			/* --tls-capture off: the crypto/tls probes go, the rest stays */
			{
				struct tw_goplan notls = plan;

				assert_false(tw_goplan_drop_tls(&notls, "--tls-capture off"));
				assert_false(notls.tls);
				assert_int_equal(notls.n_sites, plan.n_sites - count[TW_GS_TLS_READ] -
								 count[TW_GS_TLS_READ_RET] -
								 count[TW_GS_TLS_WRITE]);
				tw_goplan_describe(&notls, desc, sizeof(desc));
				assert_non_null(strstr(desc, "crypto/tls not probed (--tls-capture off)"));
				/* without the net/http client nothing would be left */
				notls.client = false;
				assert_true(tw_goplan_drop_tls(&notls, "--tls-capture off"));
				assert_non_null(strstr(notls.why, "nothing to probe"));
			}
			n_before = plan.n_sites;
			tw_goplan_drop(&plan, TW_GS_CONNREAD_RET);
			assert_int_equal(plan.n_sites, n_before - count[TW_GS_CONNREAD_RET]);
			if (!have_ref) {
				ref = plan;
				have_ref = true;
				continue;
			}
			assert_int_equal(plan.n_sites, ref.n_sites);
			for (size_t i = 0; i < plan.n_sites; i++) {
				assert_int_equal(plan.sites[i].kind, ref.sites[i].kind);
				assert_int_equal(plan.sites[i].file_off, ref.sites[i].file_off);
				assert_int_equal(plan.sites[i].cookie, ref.sites[i].cookie);
			}
		}
	}
}

/* grpc-go (servers/go_grpc.go, Debian's grpc 1.33): its three probes on the
 * stack checks' jbe of the functions `go tool nm` names, the cookies'
 * offsets as DWARF gives them, the itab's address, the goroutine-creation
 * probes with them (no net/http in the binary); stripped (no DWARF), no
 * grpc probes and the log line says why. */
static void grpc_plan(const char *ver)
{
	static const char *const fn[3] = {
		"google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders",
		"google.golang.org/grpc/internal/transport.(*controlBuffer).executeAndPut",
		"google.golang.org/grpc/internal/transport.(*loopyWriter).headerHandler",
	};
	char path[512], nm[560], desc[1024];
	struct tw_goplan plan;
	uint64_t addr[3], size, itab;
	size_t count[TW_GS_KINDS] = { 0 };

	snprintf(path, sizeof(path), "%s/grpc_go%s_plain", fixdir(), ver);
	snprintf(nm, sizeof(nm), "%s.nm", path);
	if (access(path, R_OK) || access(nm, R_OK))
		return;
	for (int i = 0; i < 3; i++)
		assert_true(nm_lookup(nm, fn[i], &addr[i], &size));
	/* "go:itab." from Go 1.20 on */
	assert_true(nm_lookup(nm, "go.itab.*google.golang.org/grpc/internal/transport.headerFrame,"
			      "google.golang.org/grpc/internal/transport.cbItem", &itab, &size) ||
		    nm_lookup(nm, "go:itab.*google.golang.org/grpc/internal/transport.headerFrame,"
			      "google.golang.org/grpc/internal/transport.cbItem", &itab, &size));
	if (tw_goplan_build(path, &plan))
		fail_msg("%s: no plan: %s", path, plan.why);
	tw_goplan_describe(&plan, desc, sizeof(desc));
	print_message("%s\n", desc);
	assert_true(plan.grpc);
	assert_false(plan.client);
	assert_null(strstr(desc, "grpc-go not probed"));
	for (size_t i = 0; i < plan.n_sites; i++) {
		const struct tw_gosite *st = &plan.sites[i];
		uint64_t c = st->cookie;

		count[st->kind]++;
		if (st->kind < TW_GS_GRPC_SERVER)
			continue;
		/* on the jbe of the stack check of its function */
		assert_true(c & TW_GO_COOKIE_AT_JBE);
		assert_int_equal(objdump_insn_at(path, st->addr, "jbe"), 1);
		assert_true(st->addr > addr[st->kind - TW_GS_GRPC_SERVER] &&
			    st->addr < addr[st->kind - TW_GS_GRPC_SERVER] + 32);
		switch (st->kind) {
		case TW_GS_GRPC_SERVER:
			assert_int_equal(TW_GO_COOKIE_GOID(c), plan.goid_off);
			/* MetaHeadersFrame: *HeadersFrame, then Fields; FrameHeader:
			 * valid, Type, Flags, Length (uint32 at 4), StreamID */
			assert_int_equal(TW_GO_GS_META_HF(c), 0);
			assert_int_equal(TW_GO_GS_SID(c), 8);
			assert_int_equal(TW_GO_GS_FIELDS(c), 8);
			assert_int_equal(TW_GO_GS_CONN(c), plan.grpc_offs[4] + 8);
			assert_int_equal(TW_GO_GS_TCP_FD(c), 0);
			assert_int_equal(TW_GO_GS_SYSFD(c), 16);
			assert_int_equal(TW_GO_GS_FAMILY(c), 56);
			break;
		case TW_GS_GRPC_PUT:
			assert_int_equal(TW_GO_COOKIE_GOID(c), plan.goid_off);
			assert_int_equal(TW_GO_GP_ITAB(c), itab);
			/* headerFrame: streamID, hf (slice), endStream, initStream */
			assert_int_equal(TW_GO_GP_INIT(c), 40);
			break;
		case TW_GS_GRPC_LOOPY:
			assert_int_equal(TW_GO_GL_SID(c), 0);
			assert_int_equal(TW_GO_GL_FRAMER(c), plan.grpc_offs[7]);
			assert_int_equal(TW_GO_GL_WRITER(c), 0);
			assert_int_equal(TW_GO_GL_CONN(c), plan.grpc_offs[9] + 8);
			assert_int_equal(TW_GO_GL_TCP_FD(c), 0);
			assert_int_equal(TW_GO_GL_SYSFD(c), 16);
			assert_int_equal(TW_GO_GL_FAMILY(c), 56);
			break;
		}
	}
	assert_int_equal(count[TW_GS_GRPC_SERVER], 1);
	assert_int_equal(count[TW_GS_GRPC_PUT], 1);
	assert_int_equal(count[TW_GS_GRPC_LOOPY], 1);
	/* the handler goroutine inherits its reader goroutine's context */
	assert_int_equal(count[TW_GS_SPAWN], 1);
	assert_int_equal(count[TW_GS_SPAWN_PARENT], plan.minor < 21);
	assert_int_equal(count[TW_GS_SERVE] + count[TW_GS_ROUNDTRIP], 0);
	/* grpc-go's programs did not load: nothing else here needs a probe */
	{
		struct tw_goplan nogrpc = plan;

		assert_true(tw_goplan_drop_grpc(&nogrpc, "its BPF programs did not load"));
		assert_false(nogrpc.grpc);
		assert_int_equal(nogrpc.n_sites, 0);
		assert_non_null(strstr(nogrpc.why, "grpc-go not probed (its BPF programs did "
						   "not load)"));
		assert_false(tw_goplan_drop_grpc(&nogrpc, "again"));
	}

	snprintf(path, sizeof(path), "%s/grpc_go%s_sw", fixdir(), ver);
	if (access(path, R_OK))
		return;
	/* (this one has no crypto/tls either: nothing at all is probed) */
	assert_int_equal(tw_goplan_build(path, &plan), -ENOTSUP);
	assert_false(plan.grpc);
	assert_non_null(strstr(plan.why, "grpc-go not probed (its field offsets not known"));
}

/* Go 1.19 (what Debian builds grpc-go with) and 1.23 (g.parentGoid, the
 * "go:itab." spelling) */
static void grpc_plans(void **state)
{
	char path[512];
	bool any = false;

	(void)state;
	for (size_t v = 0; v < 2; v++) {
		snprintf(path, sizeof(path), "%s/grpc_go%s_plain", fixdir(), versions[v]);
		any |= access(path, R_OK) == 0;
		grpc_plan(versions[v]);
	}
	if (!any)
		skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(go_versions),
		cmocka_unit_test(buildinfo_layouts),
		cmocka_unit_test(pclntab_by_hand),
		cmocka_unit_test(pclntab_crafted_is_linear),
		cmocka_unit_test(symtab_crafted_is_linear),
		cmocka_unit_test(dwarf_size_budget),
		cmocka_unit_test(x86_by_hand),
		cmocka_unit_test(procsel_helpers),
		cmocka_unit_test(table_rows),
		cmocka_unit_test(not_go),
		cmocka_unit_test(fixture_basics),
		cmocka_unit_test(fixture_functions),
		cmocka_unit_test(fixture_fields),
		cmocka_unit_test(fixture_plans),
		cmocka_unit_test(grpc_plans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
