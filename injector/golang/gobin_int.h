/* SPDX-License-Identifier: BSD-2-Clause */
/* Internals shared by injector/gobin*.c. */
#ifndef TW_GOBIN_INT_H
#define TW_GOBIN_INT_H

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>

#include "gobin.h"

#define TW_GOBIN_MAX_SEGS 16
/* No function tracewire probes comes near this; more is a misread size. */
#define TW_GOBIN_MAX_FUNC (1u << 20)

struct tw_gobin_seg {
	uint64_t vaddr;
	uint64_t filesz;
	uint64_t off;
};

struct tw_gobin {
	int fd;
	bool own_fd; /* tw_gobin_open(path); tw_gobin_open_fd's caller keeps its fd */
	Elf *elf;
	Dwarf *dwarf; /* opened on first use */
	bool is_go;
	bool has_dwarf;
	char version[48];
	Elf_Scn *symtab;
	Elf_Scn *pclntab;
	uint64_t text_addr;
	struct tw_gobin_seg segs[TW_GOBIN_MAX_SEGS];
	size_t n_segs;
};

uint8_t *tw_gobin_code(struct tw_gobin *gb, const struct tw_gofunc *f);

/* The section header string table's bytes, or NULL. */
Elf_Data *tw_gobin_shstrtab(Elf *elf);
/* Whether the name at off in a string table starts with prefix (compared
 * in place: see strtab_is() in gobin.c). */
bool tw_gobin_name_has_prefix(const Elf_Data *names, uint64_t off, const char *prefix);

#endif
