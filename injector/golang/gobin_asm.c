// SPDX-License-Identifier: BSD-2-Clause
/*
 * Where the Go probes go inside a function, found by disassembly (capstone):
 * the conditional jump of its stack-bound check (an entry probe on an
 * instruction the kernel emulates, see tw_gobin_entry), a `call` to a given
 * function, and its RET instructions (return probes without uretprobes,
 * which crash Go: they rewrite the return address on a stack the Go
 * runtime moves and walks).
 */
#include "gobin_int.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The prologue's check is within the first few instructions:
 *   cmp rsp, qword ptr [r14 + 0x10]; jbe morestack
 *   lea r12, [rsp - N]; cmp r12, qword ptr [r14 + 0x10]; jbe morestack
 * (frames above StackBig: mov r12, rsp; sub r12, N; jb ...; cmp; jbe). */
#define PROLOGUE_INSNS 6

static int open_cs(csh *h)
{
	if (cs_open(CS_ARCH_X86, CS_MODE_64, h) != CS_ERR_OK)
		return -ENOMEM;
	return 0;
}

int tw_x86_rets(const uint8_t *code, size_t len, uint64_t addr, uint64_t *out, size_t max)
{
	const uint8_t *p = code;
	uint64_t a = addr;
	size_t left = len, n = 0;
	cs_insn *insn;
	csh h;
	int err = open_cs(&h);

	if (err)
		return err;
	insn = cs_malloc(h);
	if (!insn) {
		cs_close(&h);
		return -ENOMEM;
	}
	/* Go puts no data between a function's instructions, so a linear
	 * sweep from the entry sees every instruction boundary; the padding
	 * after the last one is int3. */
	while (left) {
		if (!cs_disasm_iter(h, &p, &left, &a, insn)) {
			err = -EILSEQ;
			break;
		}
		if (insn->id != X86_INS_RET)
			continue;
		if (n == max) {
			err = -E2BIG;
			break;
		}
		out[n++] = insn->address;
	}
	cs_free(insn, 1);
	cs_close(&h);
	return err ? err : (int)n;
}

static bool is_stackguard_cmp(const cs_insn *insn)
{
	return insn->id == X86_INS_CMP && strstr(insn->op_str, "[r14 + 0x10]");
}

int tw_x86_entry(const uint8_t *code, size_t len, uint64_t addr, struct tw_goentry *out)
{
	const uint8_t *p = code;
	uint64_t a = addr;
	size_t left = len;
	bool cmp_seen = false;
	cs_insn *insn;
	csh h;
	int err = open_cs(&h);

	if (err)
		return err;
	insn = cs_malloc(h);
	if (!insn) {
		cs_close(&h);
		return -ENOMEM;
	}
	memset(out, 0, sizeof(*out));
	out->body = addr;
	for (int i = 0; i < PROLOGUE_INSNS && left; i++) {
		if (!cs_disasm_iter(h, &p, &left, &a, insn)) {
			err = -EILSEQ;
			break;
		}
		if (is_stackguard_cmp(insn)) {
			cmp_seen = true;
			continue;
		}
		if (cmp_seen) {
			/* the conditional jump to morestack; the body follows */
			if ((insn->id == X86_INS_JBE || insn->id == X86_INS_JB) && left) {
				out->branch = insn->address;
				out->branch_jb = insn->id == X86_INS_JB;
				out->body = a;
			}
			break;
		}
	}
	cs_free(insn, 1);
	cs_close(&h);
	return err;
}

int tw_x86_call_to(const uint8_t *code, size_t len, uint64_t addr, uint64_t target, uint64_t *out)
{
	const uint8_t *p = code;
	uint64_t a = addr;
	size_t left = len;
	cs_insn *insn;
	csh h;
	int err = open_cs(&h);

	if (err)
		return err;
	insn = cs_malloc(h);
	if (!insn) {
		cs_close(&h);
		return -ENOMEM;
	}
	err = -ENOENT;
	while (left) {
		int32_t rel;

		if (!cs_disasm_iter(h, &p, &left, &a, insn)) {
			err = -EILSEQ;
			break;
		}
		/* call rel32: the form uprobes emulate (no single step) */
		if (insn->id != X86_INS_CALL || insn->size != 5 || insn->bytes[0] != 0xe8)
			continue;
		memcpy(&rel, insn->bytes + 1, 4);
		if (insn->address + 5 + (int64_t)rel == target) {
			*out = insn->address;
			err = 0;
			break;
		}
	}
	cs_free(insn, 1);
	cs_close(&h);
	return err;
}

int tw_gobin_rets(struct tw_gobin *gb, const struct tw_gofunc *f, uint64_t *out, size_t max)
{
	uint8_t *code = tw_gobin_code(gb, f);
	int n;

	if (!code)
		return -EFAULT;
	n = tw_x86_rets(code, f->size, f->addr, out, max);
	free(code);
	return n;
}

int tw_gobin_entry(struct tw_gobin *gb, const struct tw_gofunc *f, struct tw_goentry *out)
{
	uint8_t *code = tw_gobin_code(gb, f);
	int err;

	if (!code)
		return -EFAULT;
	err = tw_x86_entry(code, f->size, f->addr, out);
	free(code);
	return err;
}

int tw_gobin_call_to(struct tw_gobin *gb, const struct tw_gofunc *f, uint64_t target,
		     uint64_t *out)
{
	uint8_t *code = tw_gobin_code(gb, f);
	int err;

	if (!code)
		return -EFAULT;
	err = tw_x86_call_to(code, f->size, f->addr, target, out);
	free(code);
	return err;
}
