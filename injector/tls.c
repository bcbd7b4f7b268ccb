// SPDX-License-Identifier: BSD-2-Clause
/*
 * TLS capture, user side of bpf/tls.bpf.c: an object of its own that shares
 * capture's maps, so that when it cannot load only TLS capture is off. Its
 * programs are attached by path to every libssl selected processes map,
 * with pid -1: the system's at start, and each other file (a container's own
 * copy, one under LD_LIBRARY_PATH) found in /proc/PID/maps, reached through
 * /proc/PID/root, once per device and inode. Uprobes live on the file's inode,
 * so every process that maps it, now or later, is covered, and the programs
 * drop unselected processes with the same check the syscall programs use.
 * A library tracewire does not find (a container's own copy, static
 * linking) is simply not probed: TLS there stays invisible, as before.
 *
 * Each file is opened once: its identity (fstat), its symbols and the attach
 * (through /proc/self/fd/N, with offsets read from that file) all use that
 * open file, so a library swapped at its path meanwhile (renamed over, as a
 * package upgrade or a hostile container does) never gets probes planned
 * for another file, and the file that is mapped is the one probed.
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <bpf/libbpf.h>

#include "feature_set.h"
#include "links.h"
#include "log.h"
#include "procsel.h"
#include "testhook.h"
#include "tls.skel.h"
#include "umulti.h"

#if defined(__x86_64__)
#define TW_MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define TW_MULTIARCH "aarch64-linux-gnu"
#else
#define TW_MULTIARCH "unknown"
#endif

/* Where distributions keep the shared library, newest ABI first. */
static const char *const lib_paths[] = {
	"/usr/lib/" TW_MULTIARCH "/libssl.so.3",
	"/lib/" TW_MULTIARCH "/libssl.so.3",
	"/usr/lib64/libssl.so.3",
	"/usr/lib/libssl.so.3",
	"/usr/lib/" TW_MULTIARCH "/libssl.so.1.1",
	"/lib/" TW_MULTIARCH "/libssl.so.1.1",
	"/usr/lib64/libssl.so.1.1",
	"/usr/lib/libssl.so.1.1",
};

/* libssl files probed at most (each costs a dozen uprobes); more are
 * counted and logged once */
#define TW_TLS_MAX_LIBS 64
/* Processes are looked for new libssl files this often; each process is
 * read once (a library dlopen()ed later in its life is not seen). */
#define TW_TLS_RESCAN_NS 1000000000ull
#define TW_TLS_PROC_BUCKETS 1024

/*
 * One function probed: its entry program and, for the calls that move
 * plaintext, the shared return program. Entry and return are attached
 * together or not at all (an entry without its return would leave the
 * thread's call state behind).
 */
struct tls_func {
	const char *name;
	const char *entry;
	bool ret;
	bool required; /* without it TLS capture of this library is pointless */
};

static const struct tls_func funcs[] = {
	{ "SSL_read", "tw_ssl_read", true, true },
	{ "SSL_write", "tw_ssl_write", true, true },
	/* OpenSSL >= 1.1.1; python's ssl module uses these */
	{ "SSL_read_ex", "tw_ssl_read_ex", true, false },
	{ "SSL_write_ex", "tw_ssl_write_ex", true, false },
	/* tie SSL and socket early; else the syscalls inside SSL calls do */
	{ "SSL_set_fd", "tw_ssl_set_fd", false, false },
	{ "SSL_do_handshake", "tw_ssl_do_handshake", true, false },
};

#define TW_TLS_NFUNCS (sizeof(funcs) / sizeof(funcs[0]))

struct tls_lib {
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	struct bpf_link *links[2 * TW_TLS_NFUNCS]; /* classic uprobes */
	int mfds[2 * TW_TLS_NFUNCS];               /* or uprobe_multi links */
	size_t n_links;                            /* of either */
};

/* uprobe_multi links (umulti.h): removed without the per-uprobe wait under
 * the kernel's event_mutex that made tracewire's exit slow. Set at start. */
static bool tls_multi;

/* A process whose maps were read: by pid and start time, so a reused pid
 * is read again. */
struct tls_proc {
	pid_t pid;
	uint64_t starttime;
	uint64_t gen; /* scan that last saw it */
	struct tls_proc *next;
};

struct tw_tls {
	struct tls_bpf *skel;
	struct tls_lib libs[TW_TLS_MAX_LIBS];
	size_t n_libs;
	/* files that could not be probed (no symbols, attach failed): not
	 * tried again */
	struct stat failed[TW_TLS_MAX_LIBS];
	size_t n_failed;
	bool full_logged;
	struct tw_procsel sel;
	struct tls_proc *procs[TW_TLS_PROC_BUCKETS];
	uint64_t gen;
	uint64_t next_scan_ns;
};

/* Which of funcs[] the ELF file open at fd defines (as functions, not
 * imports), and at which file offset (what a uprobe takes: the symbol's
 * address turned into an offset through its section, as libbpf does). */
static int elf_find_funcs(int fd, bool found[TW_TLS_NFUNCS], size_t off[TW_TLS_NFUNCS])
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	int err = -ENOENT;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf)
		return -EINVAL;
	memset(found, 0, sizeof(bool) * TW_TLS_NFUNCS);
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !sh.sh_entsize)
			continue;
		err = 0;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			const char *name;
			GElf_Sym sym;
			GElf_Shdr text;

			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
			    sym.st_shndx >= SHN_LORESERVE)
				continue;
			if (GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name)
				continue;
			for (size_t f = 0; f < TW_TLS_NFUNCS; f++) {
				if (found[f] || strcmp(name, funcs[f].name))
					continue;
				if (!gelf_getshdr(elf_getscn(elf, sym.st_shndx), &text) ||
				    sym.st_value < text.sh_addr)
					continue;
				off[f] = sym.st_value - text.sh_addr + text.sh_offset;
				found[f] = true;
			}
		}
	}
	elf_end(elf);
	return err;
}

/* By offset, on the open file: the kernel resolves /proc/self/fd/N in
 * tracewire's own process, to the file that was opened, whatever is at its
 * path by now. */
static struct bpf_link *attach_one(struct bpf_program *prog, const char *fdpath, size_t off,
				   bool retprobe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);

	return bpf_program__attach_uprobe_opts(prog, -1, fdpath, off, &opts);
}

static void lib_detach(struct tls_lib *lib)
{
	if (tls_multi)
		tw_umulti_close_all(lib->mfds, lib->n_links);
	else
		tw_links_destroy(lib->links, lib->n_links);
	lib->n_links = 0;
}

/* One probe of prog at off in the open file (fdpath), for every process;
 * 0 or negative errno. */
static int add_probe(struct tls_lib *lib, struct bpf_program *prog, const char *fdpath,
		     size_t off, bool retprobe)
{
	if (tls_multi) {
		uint64_t o = off;
		int fd = tw_umulti_attach(bpf_program__fd(prog), fdpath, &o, NULL, 1, 0,
					  retprobe ? TW_BPF_F_UPROBE_MULTI_RETURN : 0);

		if (fd < 0)
			return fd;
		lib->mfds[lib->n_links++] = fd;
		return 0;
	}
	struct bpf_link *l = attach_one(prog, fdpath, off, retprobe);

	if (!l)
		return -errno;
	lib->links[lib->n_links++] = l;
	return 0;
}

static void drop_last(struct tls_lib *lib)
{
	lib->n_links--;
	if (tls_multi)
		close(lib->mfds[lib->n_links]);
	else
		bpf_link__destroy(lib->links[lib->n_links]);
}

/* 0 when at least SSL_read and SSL_write are probed in lib (open at fd);
 * else nothing stays attached and the reason is logged. */
static int lib_attach(struct tls_lib *lib, struct bpf_object *obj, int fd)
{
	struct bpf_program *ret_prog = bpf_object__find_program_by_name(obj, "tw_ssl_ret");
	bool found[TW_TLS_NFUNCS];
	size_t off[TW_TLS_NFUNCS];
	char done[256] = "", missing[256] = "", fdpath[64];
	size_t dlen = 0, mlen = 0;
	int err;

	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	err = elf_find_funcs(fd, found, off);
	if (err) {
		log_warn("TLS capture: cannot read the symbols of %s (%s): not probed", lib->path,
			 strerror(-err));
		return err;
	}
	for (size_t f = 0; f < TW_TLS_NFUNCS; f++) {
		if (funcs[f].required && !found[f]) {
			log_warn("TLS capture: %s has no %s: not probed", lib->path, funcs[f].name);
			return -ENOENT;
		}
	}
	for (size_t f = 0; f < TW_TLS_NFUNCS; f++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(obj, funcs[f].entry);
		bool ret = false;

		if (!found[f]) {
			mlen += snprintf(missing + mlen, sizeof(missing) - mlen, " %s", funcs[f].name);
			if (mlen >= sizeof(missing))
				mlen = sizeof(missing) - 1;
			continue;
		}
		if (!prog || (funcs[f].ret && !ret_prog)) {
			err = -ENOENT;
			goto failed;
		}
		if (funcs[f].ret) {
			err = add_probe(lib, ret_prog, fdpath, off[f], true);
			if (err)
				goto failed;
			ret = true;
		}
		err = add_probe(lib, prog, fdpath, off[f], false);
		if (err)
			goto failed;
		dlen += snprintf(done + dlen, sizeof(done) - dlen, " %s", funcs[f].name);
		if (dlen >= sizeof(done))
			dlen = sizeof(done) - 1;
		continue;
failed:
		if (funcs[f].required) {
			log_warn("TLS capture: attaching to %s in %s failed: %s; not probed",
				 funcs[f].name, lib->path, strerror(-err));
			lib_detach(lib);
			return err;
		}
		if (ret)
			drop_last(lib);
		log_warn("TLS capture: attaching to %s in %s failed: %s; going on without it",
			 funcs[f].name, lib->path, strerror(-err));
	}
	log_info("TLS capture: probing %s:%s%s%s", lib->path, done,
		 mlen ? "; not in it:" : "", missing);
	return 0;
}

static bool seen_inode(const struct stat *seen, size_t n, const struct stat *st)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i].st_dev == st->st_dev && seen[i].st_ino == st->st_ino)
			return true;
	return false;
}

static bool lib_known(const struct tw_tls *t, const struct stat *st)
{
	for (size_t i = 0; i < t->n_libs; i++)
		if (t->libs[i].dev == st->st_dev && t->libs[i].ino == st->st_ino)
			return true;
	return seen_inode(t->failed, t->n_failed, st);
}

/* Probe the libssl open at fd (st: its fstat; path: for the log) unless
 * that file is probed or failed before. pid: the process it was found in
 * (0: the system's). */
static void probe_file(struct tw_tls *t, const char *path, int fd, const struct stat *st, pid_t pid)
{
	struct tls_lib *lib;

	if (lib_known(t, st))
		return;
	tw_test_hook("opened", "tls", pid, path);
	if (t->n_libs == TW_TLS_MAX_LIBS) {
		if (!t->full_logged)
			log_warn("TLS capture: %d libssl files probed already: %s and later ones are "
				 "not", TW_TLS_MAX_LIBS, path);
		t->full_logged = true;
		return;
	}
	lib = &t->libs[t->n_libs];
	if (strlen(path) >= sizeof(lib->path))
		return;
	memcpy(lib->path, path, strlen(path) + 1);
	lib->dev = st->st_dev;
	lib->ino = st->st_ino;
	if (!lib_attach(lib, t->skel->obj, fd)) {
		t->n_libs++;
		tw_test_hook("attached", "tls", pid, path);
		return;
	}
	if (t->n_failed < TW_TLS_MAX_LIBS)
		t->failed[t->n_failed++] = *st;
}

/* Is this /proc/PID/maps path a libssl (libssl.so.3, libssl.so.1.1, ...)? */
static bool is_libssl(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "libssl.so", 9) && !strstr(base, " (deleted)");
}

/* Every libssl process pid maps, through its own root (its container's
 * file system). */
static void examine_maps(struct tw_tls *t, pid_t pid)
{
	char maps[64], line[PATH_MAX + 128], last[PATH_MAX] = "";
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	f = fopen(maps, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/'), full[PATH_MAX + 64];
		struct stat st;
		int fd;

		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		/* a library is mapped several times in a row: look once */
		if (!is_libssl(path) || !strcmp(path, last))
			continue;
		snprintf(last, sizeof(last), "%s", path);
		if (snprintf(full, sizeof(full), "/proc/%d/root%s", (int)pid, path) >=
		    (int)sizeof(full))
			continue;
		/* opened once: what is stat'ed is what is read and probed */
		fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (!fstat(fd, &st) && S_ISREG(st.st_mode))
			probe_file(t, full, fd, &st, pid);
		close(fd);
	}
	fclose(f);
}

static struct tls_proc **proc_slot(struct tw_tls *t, pid_t pid)
{
	return &t->procs[(unsigned)pid % TW_TLS_PROC_BUCKETS];
}

/* Selected processes not read yet are read; those gone are forgotten. */
static void scan(struct tw_tls *t)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;

	if (!dir)
		return;
	t->gen++;
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		struct tls_proc *p;
		uint64_t start;

		if (*end || pid <= 0 || tw_proc_starttime(pid, &start))
			continue;
		for (p = *proc_slot(t, pid); p; p = p->next)
			if (p->pid == pid && p->starttime == start)
				break;
		if (p) {
			p->gen = t->gen;
			continue;
		}
		p = calloc(1, sizeof(*p));
		if (!p)
			break;
		p->pid = pid;
		p->starttime = start;
		p->gen = t->gen;
		p->next = *proc_slot(t, pid);
		*proc_slot(t, pid) = p;
		if (tw_procsel_match(&t->sel, pid))
			examine_maps(t, pid);
	}
	closedir(dir);
	for (size_t b = 0; b < TW_TLS_PROC_BUCKETS; b++) {
		for (struct tls_proc **pp = &t->procs[b]; *pp;) {
			struct tls_proc *p = *pp;

			if (p->gen == t->gen) {
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			free(p);
		}
	}
}

void tw_tls_tick(struct tw_tls *t, uint64_t now_ns)
{
	if (!t || now_ns < t->next_scan_ns)
		return;
	scan(t);
	t->next_scan_ns = now_ns + TW_TLS_RESCAN_NS;
}

/* Opens and loads tls.bpf.c on capture's maps; 0 or negative errno. */
static int load_object(struct tw_tls *t, const struct tw_config *cfg,
		       const struct tw_capture *cap)
{
	int err;

	t->skel = tls_bpf__open();
	if (!t->skel)
		return -errno;
	TW_CAPTURE_RODATA(t->skel->rodata, cfg);
	err = tw_capture_share_maps(cap, t->skel->obj);
	if (err)
		return err;
	tls_multi = tw_umulti_supported();
	if (tls_multi) {
		struct bpf_program *prog;

		bpf_object__for_each_program(prog, t->skel->obj)
			if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE)
				bpf_program__set_expected_attach_type(
					prog, (enum bpf_attach_type)TW_BPF_TRACE_UPROBE_MULTI);
	}
	tw_fault_inject(t->skel->obj, TW_FEATURE_TLS);
	return tls_bpf__load(t->skel);
}

struct tw_tls *tw_tls_start(const struct tw_config *cfg, const struct tw_capture *cap)
{
	struct stat seen[sizeof(lib_paths) / sizeof(lib_paths[0])];
	size_t n_seen = 0;
	struct bpf_object *obj;
	struct tw_tls *t;
	int err;

	if (!cfg->tls_capture) {
		log_info("TLS capture: off (--tls-capture off)");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		log_warn("TLS capture: off: out of memory");
		return NULL;
	}
	err = load_object(t, cfg, cap);
	if (err) {
		log_warn("TLS capture: off: its BPF programs could not be loaded (%s); plaintext "
			 "capture and propagation are not affected", strerror(-err));
		tls_bpf__destroy(t->skel);
		free(t);
		return NULL;
	}
	obj = t->skel->obj;
	for (size_t i = 0; i < sizeof(lib_paths) / sizeof(lib_paths[0]); i++) {
		struct tls_lib *lib = &t->libs[t->n_libs];
		struct stat st;
		int fd;

		if (t->n_libs == TW_TLS_MAX_LIBS)
			break;
		fd = open(lib_paths[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		/* /lib and /usr/lib are often one directory: probe a file once */
		if (fstat(fd, &st) || !S_ISREG(st.st_mode) || seen_inode(seen, n_seen, &st) ||
		    !realpath(lib_paths[i], lib->path)) { /* the name, for the log */
			close(fd);
			continue;
		}
		seen[n_seen++] = st;
		lib->dev = st.st_dev;
		lib->ino = st.st_ino;
		tw_test_hook("opened", "tls", 0, lib->path);
		if (!lib_attach(lib, obj, fd))
			t->n_libs++;
		close(fd);
	}
	if (tw_procsel_init(&t->sel, cfg)) {
		log_warn("TLS capture: the process selection cannot be tested on /proc: only the "
			 "system's libssl is probed");
		t->next_scan_ns = UINT64_MAX;
	} else {
		/* the processes already running, now: their own copies too */
		scan(t);
	}
	if (!t->n_libs)
		log_info("TLS capture: no libssl mapped by selected processes yet; new ones are "
			 "looked for every second");
	return t;
}

void tw_tls_log_stats(const struct tw_tls *t, const struct tw_capture *cap, const char *when)
{
	uint64_t k[TW_CNT_MAX] = { 0 };

	if (!t)
		return;
	tw_capture_counters(cap, k);
	log_info("stats (%s): tls tls_records=%llu tls_ctx=%llu tls_no_socket=%llu", when,
		 (unsigned long long)k[TW_CNT_TLS_RECORDS], (unsigned long long)k[TW_CNT_TLS_CTX],
		 (unsigned long long)k[TW_CNT_TLS_NO_SOCK]);
}

void tw_tls_stop(struct tw_tls *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_libs; i++)
		lib_detach(&t->libs[i]);
	for (size_t b = 0; b < TW_TLS_PROC_BUCKETS; b++) {
		while (t->procs[b]) {
			struct tls_proc *p = t->procs[b];

			t->procs[b] = p->next;
			free(p);
		}
	}
	tls_bpf__destroy(t->skel);
	free(t);
}
