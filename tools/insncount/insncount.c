// SPDX-License-Identifier: GPL-2.0
/*
 * insncount: a QEMU TCG plugin that counts guest instructions and reports
 * the count when the guest executes a marker instruction.
 *
 * Every translated block adds its instruction count to a counter with an
 * inline op: one for blocks in the kernel half of the address space, one
 * for user space.  The ops are plain (non-atomic) adds, exact when every
 * vCPU runs on one host thread (-accel tcg,thread=single).  A block that
 * is left early (exception, interrupt) still counts whole; that error is
 * the same for every run and cancels in a difference of two runs.
 *
 * Markers, found at translation time in the instruction bytes:
 *   66 87 db   xchg %bx,%bx   print the counters
 *   66 87 c9   xchg %cx,%cx   print the counters and, with profile=on,
 *                             the instructions executed per block start
 *                             address since the previous such marker
 * Both are architectural no-ops; tools/bench/mark.c executes them.
 *
 * Output goes through qemu_plugin_outs(), i.e. QEMU's log: run QEMU with
 * "-d plugin -D FILE".  Lines:
 *   insncount: mark SEQ kind KIND total N kernel K user U pc ADDR
 *   insncount: prof SEQ ADDR INSNS EXECS  (profile=on, one per block
 *                                         start address: instructions
 *                                         and executions of its blocks)
 *   insncount: prof-end SEQ BLOCKS
 *
 * Usage: -plugin PATH/libinsncount.so[,profile=on]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/* x86-64 kernel addresses have the top bit set. */
#define KERNEL_HALF	0x8000000000000000ULL

enum mark_kind { MARK_COUNT, MARK_PROFILE };

static uint64_t count_kernel;
static uint64_t count_user;
static uint64_t mark_seq;
static int profile;

/*
 * With profile=on, one record per translation: its start address, its
 * length in instructions and how often it ran (an inline counter).  A
 * block translated again gets a new record; the dump adds them up by
 * address.
 */
struct tb_rec {
	uint64_t vaddr;
	uint64_t execs;
	uint64_t dumped;	/* execs at the previous profile dump */
	uint32_t n_insns;
};

#define RECS_PER_CHUNK	4096
struct rec_chunk {
	struct rec_chunk *next;
	unsigned int used;
	struct tb_rec recs[RECS_PER_CHUNK];
};

static struct rec_chunk *chunks;

static struct tb_rec *rec_new(void)
{
	struct rec_chunk *c = chunks;

	if (!c || c->used == RECS_PER_CHUNK) {
		c = calloc(1, sizeof(*c));
		if (!c) {
			qemu_plugin_outs("insncount: out of memory, profile incomplete\n");
			return NULL;
		}
		c->next = chunks;
		chunks = c;
	}
	return &c->recs[c->used++];
}

struct agg {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t execs;
};

static int agg_cmp(const void *a, const void *b)
{
	const struct agg *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* Instructions per block start address since the previous dump. */
static void profile_dump(uint64_t seq)
{
	struct rec_chunk *c;
	struct agg *v;
	size_t n = 0, cap = 0, i, out;
	char line[96];

	for (c = chunks; c; c = c->next)
		cap += c->used;
	v = malloc((cap ? cap : 1) * sizeof(*v));
	if (!v) {
		qemu_plugin_outs("insncount: out of memory, no profile\n");
		return;
	}
	for (c = chunks; c; c = c->next) {
		for (i = 0; i < c->used; i++) {
			struct tb_rec *r = &c->recs[i];
			uint64_t d = r->execs - r->dumped;

			r->dumped = r->execs;
			if (d) {
				v[n].vaddr = r->vaddr;
				v[n].insns = d * r->n_insns;
				v[n].execs = d;
				n++;
			}
		}
	}
	qsort(v, n, sizeof(*v), agg_cmp);
	for (i = 0, out = 0; i < n; i++) {
		if (i + 1 < n && v[i + 1].vaddr == v[i].vaddr) {
			v[i + 1].insns += v[i].insns;
			v[i + 1].execs += v[i].execs;
			continue;
		}
		snprintf(line, sizeof(line), "insncount: prof %llu %llx %llu %llu\n",
			 (unsigned long long)seq, (unsigned long long)v[i].vaddr,
			 (unsigned long long)v[i].insns,
			 (unsigned long long)v[i].execs);
		qemu_plugin_outs(line);
		out++;
	}
	snprintf(line, sizeof(line), "insncount: prof-end %llu %zu\n",
		 (unsigned long long)seq, out);
	qemu_plugin_outs(line);
	free(v);
}

/* One per translated marker; translations are few, never freed. */
struct mark_site {
	uint64_t pc;
	enum mark_kind kind;
};

static void on_mark(unsigned int vcpu, void *udata)
{
	const struct mark_site *m = udata;
	char line[160];

	(void)vcpu;
	mark_seq++;
	snprintf(line, sizeof(line),
		 "insncount: mark %llu kind %s total %llu kernel %llu user %llu pc %llx\n",
		 (unsigned long long)mark_seq,
		 m->kind == MARK_PROFILE ? "profile" : "count",
		 (unsigned long long)(count_kernel + count_user),
		 (unsigned long long)count_kernel,
		 (unsigned long long)count_user, (unsigned long long)m->pc);
	qemu_plugin_outs(line);
	if (m->kind == MARK_PROFILE && profile)
		profile_dump(mark_seq);
}

static int marker_kind(struct qemu_plugin_insn *insn)
{
	const uint8_t *b = qemu_plugin_insn_data(insn);

	if (qemu_plugin_insn_size(insn) != 3 || b[0] != 0x66 || b[1] != 0x87)
		return -1;
	if (b[2] == 0xdb)
		return MARK_COUNT;
	if (b[2] == 0xc9)
		return MARK_PROFILE;
	return -1;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;
	uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
	uint64_t *counter = vaddr & KERNEL_HALF ? &count_kernel : &count_user;

	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 counter, n);
	if (profile) {
		struct tb_rec *r = rec_new();

		if (r) {
			r->vaddr = vaddr;
			r->n_insns = n;
			qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
								 &r->execs, 1);
		}
	}
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		int kind = marker_kind(insn);
		struct mark_site *m;

		if (kind < 0)
			continue;
		m = malloc(sizeof(*m));
		if (!m)
			continue;
		m->pc = qemu_plugin_insn_vaddr(insn);
		m->kind = kind;
		qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, m);
	}
}

static void on_plugin_exit(qemu_plugin_id_t id, void *p)
{
	char line[128];

	(void)id;
	(void)p;
	snprintf(line, sizeof(line), "insncount: exit marks %llu total %llu\n",
		 (unsigned long long)mark_seq,
		 (unsigned long long)(count_kernel + count_user));
	qemu_plugin_outs(line);
}

static const char multi_vcpu_note[] =
	"insncount: several vCPUs: counts are their sum, exact only with thread=single\n";

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info,
					   int argc, char **argv)
{
	char line[128];
	int i;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "profile=on")) {
			profile = 1;
		} else if (!strcmp(argv[i], "profile=off")) {
			profile = 0;
		} else {
			fprintf(stderr, "insncount: unknown argument '%s'\n", argv[i]);
			return -1;
		}
	}
	if (strcmp(info->target_name, "x86_64")) {
		fprintf(stderr, "insncount: x86_64 guests only, not %s\n",
			info->target_name);
		return -1;
	}
	snprintf(line, sizeof(line),
		 "insncount: api %d (qemu min %d cur %d), %d vcpu(s), profile %s\n",
		 QEMU_PLUGIN_VERSION, info->version.min, info->version.cur,
		 info->system_emulation ? info->system.smp_vcpus : 1,
		 profile ? "on" : "off");
	qemu_plugin_outs(line);
	if (info->system_emulation && info->system.smp_vcpus > 1)
		qemu_plugin_outs(multi_vcpu_note);
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
	qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
	return 0;
}
