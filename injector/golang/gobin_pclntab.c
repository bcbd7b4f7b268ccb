// SPDX-License-Identifier: BSD-2-Clause
/*
 * Function addresses from .gopclntab, the table the Go runtime itself uses
 * for tracebacks: it survives -ldflags='-s -w', which removes .symtab.
 * Layouts (src/debug/gosym/pclntab.go): Go 1.16-1.17 magic 0xfffffffa
 * (pointer-sized function table entries), 1.18-1.19 0xfffffff0 and 1.20+
 * 0xfffffff1 (32-bit entries relative to the header's text start).
 */
#include "gobin.h"
#include "gobudget.h"

#include <errno.h>
#include <string.h>

#define PCLN_GO116 0xfffffffau
#define PCLN_GO118 0xfffffff0u
#define PCLN_GO120 0xfffffff1u

struct pcln {
	const uint8_t *tab;
	size_t len;
	unsigned ptr;       /* 8 */
	bool wide;          /* Go 1.16-1.17: pointer-sized entries */
	uint64_t nfunc;
	uint64_t text;      /* entries are relative to this (1.18+) */
	uint64_t funcnames; /* offsets from tab */
	uint64_t functab;
};

static bool rd(const struct pcln *p, uint64_t off, unsigned n, uint64_t *v)
{
	uint64_t x = 0;

	if (off > p->len || n > p->len - off)
		return false;
	memcpy(&x, p->tab + off, n); /* little-endian host (x86-64 only) */
	*v = x;
	return true;
}

static int pcln_header(struct pcln *p)
{
	uint64_t magic, w, fnoff, pcoff;
	unsigned base;

	if (!rd(p, 0, 4, &magic) || p->len < 8 || p->tab[4] || p->tab[5] || p->tab[7] != 8)
		return -EINVAL;
	p->ptr = 8;
	if (magic == PCLN_GO116) {
		p->wide = true;
		base = 8 + 2 * 8; /* nfunc, nfiles */
		p->text = 0;
	} else if (magic == PCLN_GO118 || magic == PCLN_GO120) {
		p->wide = false;
		base = 8 + 3 * 8; /* nfunc, nfiles, textStart */
		if (!rd(p, 8 + 2 * 8, 8, &p->text))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	/* funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset */
	if (!rd(p, 8, 8, &w) || !rd(p, base, 8, &fnoff) || !rd(p, base + 4 * 8, 8, &pcoff))
		return -EINVAL;
	if (fnoff >= p->len || pcoff >= p->len || w == 0 || w > p->len)
		return -EINVAL;
	p->nfunc = w;
	p->funcnames = fnoff;
	p->functab = pcoff;
	return 0;
}

/* Entry i of the function table: its entry address and _func offset. */
static bool pcln_entry(const struct pcln *p, uint64_t i, uint64_t *entry, uint64_t *funcoff)
{
	if (p->wide)
		return rd(p, p->functab + i * 16, 8, entry) &&
		       (!funcoff || rd(p, p->functab + i * 16 + 8, 8, funcoff));
	if (!rd(p, p->functab + i * 8, 4, entry) ||
	    (funcoff && !rd(p, p->functab + i * 8 + 4, 4, funcoff)))
		return false;
	*entry += p->text;
	return true;
}

/*
 * Whether the _func at functab + funcoff is named name (nlen bytes and its
 * NUL). Compared in place, never by looking for the NUL first: names that
 * run unterminated to the end of a crafted table made every entry read the
 * rest of it, minutes of CPU for a few MB (quadratic in the table size).
 */
static bool pcln_name_is(const struct pcln *p, uint64_t funcoff, const char *name, size_t nlen)
{
	uint64_t nameoff, at;

	/* _func: entry (uintptr in 1.16-1.17, uint32 since), then nameOff int32 */
	if (funcoff > p->len || !rd(p, p->functab + funcoff + (p->wide ? 8 : 4), 4, &nameoff))
		return false;
	at = p->funcnames + (uint32_t)nameoff;
	return at < p->len && p->len - at > nlen && !memcmp(p->tab + at, name, nlen + 1);
}

int tw_gopclntab_find(const uint8_t *tab, size_t len, uint64_t text_addr, const char *name,
		      uint64_t *entry, uint64_t *size)
{
	struct pcln p = { .tab = tab, .len = len };
	size_t nlen = strlen(name);
	int err = pcln_header(&p);

	if (err)
		return err;
	if (!p.wide && !p.text)
		p.text = text_addr;
	/* nfunc <= len: the walk is linear in the table, each step O(nlen) */
	for (uint64_t i = 0; i < p.nfunc; i++) {
		uint64_t e, next, funcoff;

		if (tw_gobudget_over())
			return -ETIMEDOUT;
		if (!pcln_entry(&p, i, &e, &funcoff))
			return -EINVAL;
		if (!pcln_name_is(&p, funcoff, name, nlen))
			continue;
		/* entry nfunc is the end of the last function */
		if (!pcln_entry(&p, i + 1, &next, NULL) || next <= e)
			return -EINVAL;
		*entry = e;
		*size = next - e;
		return 0;
	}
	return -ENOENT;
}
