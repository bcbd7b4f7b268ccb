// SPDX-License-Identifier: BSD-2-Clause
/*
 * bpf_verify: loads every program of the given BPF objects alone, on the
 * running kernel, and prints one row per program: processed instructions,
 * combined stack depth, verification time and verdict. Exits 1 when a
 * program is rejected or breaches the headroom tracewire keeps from the
 * verifier's limits (75% of the 512-byte combined stack, 50% of the 1M
 * processed-instruction budget), so that a program at the edge of a limit
 * fails here, not on the next kernel build.
 *
 * Each program is loaded twice: with the object's compiled rodata (the
 * defaults) and with every feature switch tracewire sets at load time on
 * (the most code the verifier can see). Built static (make verify-tool) so
 * that the same binary runs in the kernel-matrix guests.
 *
 * usage: bpf_verify [-q] OBJ.bpf.o...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define STACK_LIMIT 512
#define INSN_LIMIT 1000000
#define STACK_HEADROOM (STACK_LIMIT * 3 / 4)
#define INSN_HEADROOM (INSN_LIMIT / 2)
#define MAX_PROGS 128

/* Feature switches (const volatile rodata) that only add code when set:
 * loading with all of them on is the worst case the verifier sees. */
static const char *const feature_switches[] = {
	"wire_on", "wire_tcp", "inject_headers", "tls_capture", "select_by_pid",
	"select_by_cgroup", "select_by_comm", "ip_insert", "ip_read",
};

static char logbuf[16 << 20];

struct result {
	long insns;
	long stack;
	long usec;
	int err;
};

static void silence(void)
{
	libbpf_set_print(NULL);
}

/* The first number after key in the log, or -1. */
static long log_number(const char *key)
{
	const char *p = strstr(logbuf, key);

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Frame sizes in subprogram order from the stats line "stack depth 24+160+256". */
static int log_frames(long *frames, int max)
{
	const char *p = strstr(logbuf, "stack depth ");
	int n = 0;

	if (!p)
		return 0;
	p += strlen("stack depth ");
	while (*p >= '0' && *p <= '9' && n < max) {
		char *end;

		frames[n++] = strtol(p, &end, 10);
		p = end;
		if (*p != '+')
			break;
		p++;
	}
	return n;
}

#define MAX_SUBPROGS 64

struct callgraph {
	size_t start[MAX_SUBPROGS];
	int n;
	unsigned char calls[MAX_SUBPROGS][MAX_SUBPROGS];
	long frame[MAX_SUBPROGS];
};

static int subprog_of(const struct callgraph *g, size_t insn)
{
	int i = g->n - 1;

	while (i > 0 && g->start[i] > insn)
		i--;
	return i;
}

static void add_start(struct callgraph *g, size_t at)
{
	for (int i = 0; i < g->n; i++)
		if (g->start[i] == at)
			return;
	if (g->n == MAX_SUBPROGS)
		return;
	g->start[g->n++] = at;
	for (int i = g->n - 1; i > 0 && g->start[i] < g->start[i - 1]; i--) {
		size_t t = g->start[i];

		g->start[i] = g->start[i - 1];
		g->start[i - 1] = t;
	}
}

/* BPF-to-BPF calls and callback references (bpf_loop) are the edges. */
static bool is_subprog_ref(const struct bpf_insn *in)
{
	return (in->code == (BPF_JMP | BPF_CALL) && in->src_reg == BPF_PSEUDO_CALL) ||
	       (in->code == (BPF_LD | BPF_IMM | BPF_DW) && in->src_reg == BPF_PSEUDO_FUNC);
}

static long chain_depth(const struct callgraph *g, int at, int level)
{
	long best = 0;

	if (level > MAX_SUBPROGS)
		return 0;
	for (int j = 0; j < g->n; j++)
		if (g->calls[at][j]) {
			long d = chain_depth(g, j, level + 1);

			if (d > best)
				best = d;
		}
	/* the verifier rounds each frame up to 32 bytes when it adds them */
	return (g->frame[at] + 31) / 32 * 32 + best;
}

/*
 * The deepest call chain's combined stack, the figure the verifier holds
 * against its 512-byte limit: subprograms start at offset 0 and at every
 * call or callback target; their frame sizes come from the stats line in
 * the same order.
 */
static long combined_stack(struct bpf_program *p)
{
	const struct bpf_insn *insns = bpf_program__insns(p);
	size_t cnt = bpf_program__insn_cnt(p);
	struct callgraph g = { .n = 0 };
	long frames[MAX_SUBPROGS];
	int nf;

	nf = log_frames(frames, MAX_SUBPROGS);
	if (!insns || !nf)
		return -1;
	add_start(&g, 0);
	for (size_t i = 0; i < cnt; i++)
		if (is_subprog_ref(&insns[i]))
			add_start(&g, i + 1 + insns[i].imm);
	if (g.n != nf)
		return -1;
	for (int i = 0; i < nf; i++)
		g.frame[i] = frames[i];
	for (size_t i = 0; i < cnt; i++)
		if (is_subprog_ref(&insns[i]))
			g.calls[subprog_of(&g, i)][subprog_of(&g, i + 1 + insns[i].imm)] = 1;
	return chain_depth(&g, 0, 0);
}

static int set_switches_on(struct bpf_object *obj)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".rodata");
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct btf *btf = bpf_object__btf(obj);
	size_t size;
	__u8 *data;
	int id;

	if (!map || !btf)
		return 0;
	data = (__u8 *)bpf_map__initial_value(map, &size);
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (!data || id < 0)
		return 0;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const char *name = btf__name_by_offset(btf, btf__type_by_id(btf, vs->type)->name_off);

		for (size_t k = 0; k < sizeof(feature_switches) / sizeof(feature_switches[0]); k++)
			if (!strcmp(name, feature_switches[k]) && vs->size == 1 &&
			    vs->offset < size)
				data[vs->offset] = 1;
	}
	return 0;
}

static int load_one(const char *path, const char *prog_name, int all_on, struct result *r)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *p;
	int err;

	memset(r, 0, sizeof(*r));
	if (!obj)
		return -errno;
	bpf_object__for_each_program(p, obj) {
		int me = !strcmp(bpf_program__name(p), prog_name);

		bpf_program__set_autoload(p, me);
		if (me) {
			logbuf[0] = 0;
			bpf_program__set_log_buf(p, logbuf, sizeof(logbuf));
			bpf_program__set_log_level(p, 4 /* stats */);
		}
	}
	if (all_on)
		set_switches_on(obj);
	err = bpf_object__load(obj);
	r->err = err;
	r->insns = log_number("processed ");
	r->stack = -1;
	bpf_object__for_each_program(p, obj)
		if (!strcmp(bpf_program__name(p), prog_name))
			r->stack = combined_stack(p);
	r->usec = log_number("verification time ");
	bpf_object__close(obj);
	return 0;
}

static void print_log_tail(void)
{
	size_t n = strlen(logbuf);
	const char *p = logbuf + (n > 1500 ? n - 1500 : 0);

	printf("    | %s\n", p);
}

int main(int argc, char **argv)
{
	int bad = 0, quiet = 0, arg = 1;

	if (arg < argc && !strcmp(argv[arg], "-q")) {
		quiet = 1;
		arg++;
	}
	if (arg >= argc) {
		fprintf(stderr, "usage: %s [-q] OBJ.bpf.o...\n", argv[0]);
		return 2;
	}
	silence();
	printf("%-14s %-24s %-8s %10s %6s %9s  %s\n", "object", "program", "rodata", "insns",
	       "stack", "verify_us", "verdict");
	for (; arg < argc; arg++) {
		const char *path = argv[arg], *base = strrchr(path, '/');
		char names[MAX_PROGS][64];
		struct bpf_object *obj;
		struct bpf_program *p;
		int n = 0;

		base = base ? base + 1 : path;
		obj = bpf_object__open_file(path, NULL);
		if (!obj) {
			printf("%-14s cannot open: %s\n", base, strerror(errno));
			bad = 1;
			continue;
		}
		bpf_object__for_each_program(p, obj)
			if (n < MAX_PROGS)
				snprintf(names[n++], sizeof(names[0]), "%s", bpf_program__name(p));
		bpf_object__close(obj);
		for (int i = 0; i < n; i++) {
			for (int all_on = 0; all_on < 2; all_on++) {
				struct result r;
				const char *verdict = "ok";

				if (load_one(path, names[i], all_on, &r)) {
					verdict = "FAIL(open)";
				} else if (r.err) {
					verdict = "FAIL(rejected)";
				} else if (r.stack > STACK_HEADROOM) {
					verdict = "FAIL(stack>384)";
				} else if (r.insns > INSN_HEADROOM) {
					verdict = "FAIL(insns>500k)";
				}
				if (strcmp(verdict, "ok"))
					bad = 1;
				if (quiet && !strcmp(verdict, "ok"))
					continue;
				printf("%-14.14s %-24.24s %-8s %10ld %6ld %9ld  %s\n", base, names[i],
				       all_on ? "all-on" : "default", r.insns, r.stack, r.usec,
				       verdict);
				if (r.err)
					print_log_tail();
			}
		}
	}
	return bad;
}
