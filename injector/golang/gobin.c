// SPDX-License-Identifier: BSD-2-Clause
/* Go executables: ELF, build info, function addresses (docs/go.md). */
#include "gobin_int.h"
#include "gobudget.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUILDINFO_MAGIC "\xff Go buildinf:"
#define BUILDINFO_HDR 32
#define BUILDINFO_FLAG_INLINE 0x2

/*
 * Whether the string at off in a string table section is name. Compared in
 * place: elf_strptr() first checks that a NUL follows, searching back from
 * the end of the table, so a table without one near its end costs its whole
 * length per call, and a symbol table walk became quadratic.
 */
static bool strtab_is(const Elf_Data *d, uint64_t off, const char *name, size_t nlen)
{
	return d && d->d_buf && off < d->d_size && d->d_size - off > nlen &&
	       !memcmp((const char *)d->d_buf + off, name, nlen + 1);
}

static Elf_Data *strtab_data(Elf *elf, size_t ndx)
{
	Elf_Scn *scn = elf_getscn(elf, ndx);
	GElf_Shdr shdr;

	if (!scn || !gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_STRTAB)
		return NULL;
	return elf_getdata(scn, NULL);
}

bool tw_gobin_name_has_prefix(const Elf_Data *names, uint64_t off, const char *prefix)
{
	size_t n = strlen(prefix);

	return names && names->d_buf && off < names->d_size && names->d_size - off > n &&
	       !memcmp((const char *)names->d_buf + off, prefix, n);
}

Elf_Data *tw_gobin_shstrtab(Elf *elf)
{
	size_t shstrndx;

	return elf_getshdrstrndx(elf, &shstrndx) ? NULL : strtab_data(elf, shstrndx);
}

static Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr *shdr_out)
{
	size_t nlen = strlen(name);
	Elf_Scn *scn = NULL;
	Elf_Data *names = tw_gobin_shstrtab(elf);

	if (!names)
		return NULL;
	while ((scn = elf_nextscn(elf, scn)) && !tw_gobudget_over()) {
		GElf_Shdr shdr;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		if (strtab_is(names, shdr.sh_name, name, nlen)) {
			if (shdr_out)
				*shdr_out = shdr;
			return scn;
		}
	}
	return NULL;
}

/* Section bytes; libelf owns them (valid until elf_end). */
static const uint8_t *section_bytes(Elf_Scn *scn, size_t *len)
{
	Elf_Data *d = elf_getdata(scn, NULL);

	if (!d || !d->d_buf)
		return NULL;
	*len = d->d_size;
	return d->d_buf;
}

static int load_segments(struct tw_gobin *gb)
{
	size_t n;

	if (elf_getphdrnum(gb->elf, &n))
		return -EINVAL;
	for (size_t i = 0; i < n && gb->n_segs < TW_GOBIN_MAX_SEGS; i++) {
		if (tw_gobudget_over())
			return -ETIMEDOUT;
		GElf_Phdr ph;

		if (!gelf_getphdr(gb->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		gb->segs[gb->n_segs].vaddr = ph.p_vaddr;
		gb->segs[gb->n_segs].filesz = ph.p_filesz;
		gb->segs[gb->n_segs].off = ph.p_offset;
		gb->n_segs++;
	}
	return gb->n_segs ? 0 : -ENOEXEC;
}

int tw_gobin_file_offset(const struct tw_gobin *gb, uint64_t addr, uint64_t *off)
{
	for (size_t i = 0; i < gb->n_segs; i++) {
		const struct tw_gobin_seg *s = &gb->segs[i];

		if (addr >= s->vaddr && addr - s->vaddr < s->filesz) {
			*off = addr - s->vaddr + s->off;
			return 0;
		}
	}
	return -EFAULT;
}

int tw_gobin_read(const struct tw_gobin *gb, uint64_t addr, void *buf, size_t len)
{
	uint64_t off, end;
	ssize_t n;

	if (tw_gobin_file_offset(gb, addr, &off) || (len && tw_gobin_file_offset(gb, addr + len - 1, &end)))
		return -EFAULT;
	if (len && end - off != len - 1)
		return -EFAULT; /* crosses segments */
	n = pread(gb->fd, buf, len, (off_t)off);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* A Go varint (unsigned LEB128) from p[0..len): bytes used, 0 if bad. */
static size_t uvarint(const uint8_t *p, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t i = 0; i < len && i < 10; i++) {
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

int tw_go_buildinfo_version(const uint8_t *data, size_t len, char *out, size_t outlen)
{
	uint64_t n;
	size_t used;

	if (len < BUILDINFO_HDR || memcmp(data, BUILDINFO_MAGIC, 14))
		return -EINVAL;
	if (!(data[15] & BUILDINFO_FLAG_INLINE))
		return -ENOTSUP;
	used = uvarint(data + BUILDINFO_HDR, len - BUILDINFO_HDR, &n);
	if (!used || n >= outlen || n > len - BUILDINFO_HDR - used)
		return -EINVAL;
	memcpy(out, data + BUILDINFO_HDR + used, n);
	out[n] = '\0';
	return 0;
}

/* Before Go 1.18 the build info holds pointers to Go strings. */
static int buildinfo_version_ptr(const struct tw_gobin *gb, const uint8_t *data, size_t len)
{
	uint64_t str[2] = { 0, 0 }, ptr = 0;

	if (len < 16 + 8 || data[14] != 8 || (data[15] & 1))
		return -ENOTSUP; /* only 64-bit little-endian */
	memcpy(&ptr, data + 16, 8);
	if (tw_gobin_read(gb, ptr, str, sizeof(str)))
		return -EFAULT;
	if (!str[1] || str[1] >= sizeof(gb->version))
		return -EINVAL;
	if (tw_gobin_read(gb, str[0], (char *)gb->version, str[1]))
		return -EFAULT;
	((char *)gb->version)[str[1]] = '\0';
	return 0;
}

static void read_version(struct tw_gobin *gb)
{
	Elf_Scn *scn = find_section(gb->elf, ".go.buildinfo", NULL);
	const uint8_t *data;
	size_t len = 0;
	int err;

	if (!scn || !(data = section_bytes(scn, &len)))
		return;
	gb->is_go = true;
	err = tw_go_buildinfo_version(data, len, gb->version, sizeof(gb->version));
	if (err == -ENOTSUP)
		err = buildinfo_version_ptr(gb, data, len);
	if (err)
		gb->version[0] = '\0';
}

int tw_go_parse_version(const char *s, unsigned *major, unsigned *minor)
{
	char *end;
	unsigned long a, b;

	if (strncmp(s, "go", 2) || s[2] < '0' || s[2] > '9')
		return -EINVAL;
	a = strtoul(s + 2, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	b = strtoul(end + 1, &end, 10);
	/* what may follow: ".patch", "rc1", "beta2", " X:..." experiments */
	if (*end && *end != '.' && *end != ' ' && strncmp(end, "rc", 2) && strncmp(end, "beta", 4))
		return -EINVAL;
	if (a > 100 || b > 1000)
		return -EINVAL;
	*major = (unsigned)a;
	*minor = (unsigned)b;
	return 0;
}

int tw_gobin_open(const char *path, struct tw_gobin **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = tw_gobin_open_fd(fd, out);
	if (err)
		close(fd);
	else
		(*out)->own_fd = true;
	return err;
}

int tw_gobin_open_fd(int fd, struct tw_gobin **out)
{
	struct tw_gobin *gb;
	GElf_Ehdr eh;
	GElf_Shdr shdr;
	int err;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	gb = calloc(1, sizeof(*gb));
	if (!gb)
		return -ENOMEM;
	gb->fd = fd;
	gb->elf = elf_begin(gb->fd, ELF_C_READ_MMAP, NULL);
	if (!gb->elf || elf_kind(gb->elf) != ELF_K_ELF || !gelf_getehdr(gb->elf, &eh) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
		err = -ENOEXEC;
		goto fail;
	}
	err = load_segments(gb);
	if (err)
		goto fail;
	if (find_section(gb->elf, ".note.go.buildid", NULL))
		gb->is_go = true;
	read_version(gb);
	gb->symtab = find_section(gb->elf, ".symtab", NULL);
	gb->pclntab = find_section(gb->elf, ".gopclntab", NULL);
	if (find_section(gb->elf, ".text", &shdr))
		gb->text_addr = shdr.sh_addr;
	gb->has_dwarf = find_section(gb->elf, ".debug_info", NULL) ||
			find_section(gb->elf, ".zdebug_info", NULL);
	*out = gb;
	return 0;
fail:
	tw_gobin_close(gb);
	return err;
}

void tw_gobin_close(struct tw_gobin *gb)
{
	if (!gb)
		return;
	if (gb->dwarf)
		dwarf_end(gb->dwarf);
	if (gb->elf)
		elf_end(gb->elf);
	if (gb->own_fd && gb->fd >= 0)
		close(gb->fd);
	free(gb);
}

bool tw_gobin_is_go(const struct tw_gobin *gb)
{
	return gb->is_go;
}

const char *tw_gobin_version(const struct tw_gobin *gb)
{
	return gb->version;
}

bool tw_gobin_has_symtab(const struct tw_gobin *gb)
{
	return gb->symtab != NULL;
}

bool tw_gobin_has_dwarf(const struct tw_gobin *gb)
{
	return gb->has_dwarf;
}

static int symtab_find(struct tw_gobin *gb, const char *name, unsigned type,
		       struct tw_gofunc *out)
{
	size_t nlen = strlen(name), n;
	GElf_Shdr shdr;
	Elf_Data *d, *names;

	if (!gelf_getshdr(gb->symtab, &shdr) || !shdr.sh_entsize)
		return -ENOENT;
	d = elf_getdata(gb->symtab, NULL);
	names = strtab_data(gb->elf, shdr.sh_link);
	if (!d || !names)
		return -ENOENT;
	n = d->d_size / sizeof(Elf64_Sym);
	for (size_t i = 0; i < n && i <= INT_MAX; i++) {
		GElf_Sym sym;

		if (tw_gobudget_over())
			return -ETIMEDOUT;
		if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != type)
			continue;
		if (strtab_is(names, sym.st_name, name, nlen)) {
			out->addr = sym.st_value;
			out->size = sym.st_size;
			out->from_pclntab = false;
			return 0;
		}
	}
	return -ENOENT;
}

static int symtab_func(struct tw_gobin *gb, const char *name, struct tw_gofunc *out)
{
	return symtab_find(gb, name, STT_FUNC, out);
}

int tw_gobin_object(struct tw_gobin *gb, const char *name, uint64_t *addr)
{
	struct tw_gofunc o;
	GElf_Ehdr eh;

	/* a position-independent executable's data moves with its load address */
	if (!gb->symtab || !gelf_getehdr(gb->elf, &eh) || eh.e_type != ET_EXEC)
		return -ENOENT;
	if (symtab_find(gb, name, STT_OBJECT, &o))
		return -ENOENT;
	*addr = o.addr;
	return 0;
}

int tw_gobin_func(struct tw_gobin *gb, const char *name, struct tw_gofunc *out)
{
	const uint8_t *tab;
	size_t len;
	int err;

	if (gb->symtab && !symtab_func(gb, name, out) && out->size)
		return 0;
	if (!gb->pclntab || !(tab = section_bytes(gb->pclntab, &len)))
		return -ENOENT;
	err = tw_gopclntab_find(tab, len, gb->text_addr, name, &out->addr, &out->size);
	if (err)
		return err == -EINVAL ? -ENOENT : err;
	out->from_pclntab = true;
	return 0;
}

/* The function's bytes, read from the file (callers free them). */
uint8_t *tw_gobin_code(struct tw_gobin *gb, const struct tw_gofunc *f)
{
	uint8_t *code;

	if (!f->size || f->size > TW_GOBIN_MAX_FUNC)
		return NULL;
	code = malloc(f->size);
	if (code && tw_gobin_read(gb, f->addr, code, f->size)) {
		free(code);
		return NULL;
	}
	return code;
}
