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
#include "gobudget.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The prologue's check is within the first few instructions:
 *   cmp rsp, qword ptr [r14 + 0x10]; jbe morestack
 *   lea r12, [rsp - N]; cmp r12, qword ptr [r14 + 0x10]; jbe morestack
 * (frames above StackBig: mov r12, rsp; sub r12, N; jb ...; cmp; jbe). */
#define PROLOGUE_INSNS 6

/* A linear sweep over code[0..len), which starts at address addr. */
struct sweep {
	csh h;
	cs_insn *insn; /* the instruction sweep_next() decoded */
	const uint8_t *p;
	size_t left;
	uint64_t a;    /* the address after it */
};

static int sweep_open(struct sweep *s, const uint8_t *code, size_t len, uint64_t addr)
{
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &s->h) != CS_ERR_OK)
		return -ENOMEM;
	s->insn = cs_malloc(s->h);
	if (!s->insn) {
		cs_close(&s->h);
		return -ENOMEM;
	}
	s->p = code;
	s->left = len;
	s->a = addr;
	return 0;
}

/* 1: the next instruction is in s->insn; 0: the end; -EILSEQ: bytes that
 * are no instruction; -ETIMEDOUT: the analysis is over its budget. */
static int sweep_next(struct sweep *s)
{
	if (!s->left)
		return 0;
	if (tw_gobudget_over())
		return -ETIMEDOUT;
	return cs_disasm_iter(s->h, &s->p, &s->left, &s->a, s->insn) ? 1 : -EILSEQ;
}

static void sweep_close(struct sweep *s)
{
	cs_free(s->insn, 1);
	cs_close(&s->h);
}

int tw_x86_rets(const uint8_t *code, size_t len, uint64_t addr, uint64_t *out, size_t max)
{
	struct sweep s;
	size_t n = 0;
	int err = sweep_open(&s, code, len, addr), r;

	if (err)
		return err;
	/* Go puts no data between a function's instructions, so a linear
	 * sweep from the entry sees every instruction boundary; the padding
	 * after the last one is int3. */
	while ((r = sweep_next(&s)) > 0) {
		if (s.insn->id != X86_INS_RET)
			continue;
		if (n == max) {
			err = -E2BIG;
			break;
		}
		out[n++] = s.insn->address;
	}
	if (r < 0)
		err = r;
	sweep_close(&s);
	return err ? err : (int)n;
}

static bool is_stackguard_cmp(const cs_insn *insn)
{
	return insn->id == X86_INS_CMP && strstr(insn->op_str, "[r14 + 0x10]");
}

int tw_x86_entry(const uint8_t *code, size_t len, uint64_t addr, struct tw_goentry *out)
{
	struct sweep s;
	bool cmp_seen = false;
	int err = sweep_open(&s, code, len, addr), r = 0;

	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	out->body = addr;
	for (int i = 0; i < PROLOGUE_INSNS && (r = sweep_next(&s)) > 0; i++) {
		if (is_stackguard_cmp(s.insn)) {
			cmp_seen = true;
			continue;
		}
		if (cmp_seen) {
			/* the conditional jump to morestack; the body follows */
			if ((s.insn->id == X86_INS_JBE || s.insn->id == X86_INS_JB) && s.left) {
				out->branch = s.insn->address;
				out->branch_jb = s.insn->id == X86_INS_JB;
				out->body = s.a;
			}
			break;
		}
	}
	if (r < 0)
		err = r;
	sweep_close(&s);
	return err;
}

int tw_x86_call_to(const uint8_t *code, size_t len, uint64_t addr, uint64_t target, uint64_t *out)
{
	struct sweep s;
	int err = sweep_open(&s, code, len, addr), r;

	if (err)
		return err;
	err = -ENOENT;
	while ((r = sweep_next(&s)) > 0) {
		const cs_insn *insn = s.insn;
		int32_t rel;

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
	if (r < 0)
		err = r;
	sweep_close(&s);
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
