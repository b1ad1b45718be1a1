/* symprefetch.c — resolves the program's own return addresses on a second
 * thread while the replay runs (symprefetch.h).
 *
 * The replay's hooks (main thread) put each MODULE_LOAD, MODULE_UNLOAD and
 * NODE record, in trace order, on a queue: a local batch first, handed over
 * under the lock QBATCH at a time.  The thread takes them in the same order:
 * modules into its symbolizer, and for each node the module that holds the
 * ip at that point (as the stacks stage will find it); an ip in one of the
 * program's own modules is resolved there and then.  The symbolizer is the
 * thread's alone until hl_symprefetch_finish() joins it.  An ip already
 * handed over since the last module record is not handed over again: a
 * trace has ~20 nodes per distinct return address (python: 102k nodes, 5k
 * addresses), and the thread's time is the report's critical path.  It
 * never reports an error: a trace the replay cannot read is the replay's to
 * report, and what the thread could not resolve is resolved on demand
 * later. */
#define _GNU_SOURCE 1 /* sched_getaffinity */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stacks.h"
#include "symbolize.h"
#include "symprefetch.h"

#define QBATCH 256

enum { E_NODE, E_LOAD, E_UNLOAD, E_EXE };

struct entry {
	int kind;
	uint64_t v;		/* E_NODE: the ip; E_UNLOAD: the module id */
	struct hl_module *mod;	/* E_LOAD: a copy, owned by the entry */
	char *exe;		/* E_EXE: a copy */
};

struct hl_symprefetch {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t more;
	/* shared, under lock */
	struct entry *q;
	size_t qn, qcap;
	bool done, cancel;
	/* the main thread's batch */
	struct entry batch[QBATCH];
	size_t nbatch;
	bool exe_sent, nomem;
	/* ips handed over since the last module record: open addressing,
	 * ip + 1 as the key (0: empty) */
	uint64_t *seen;
	size_t seen_n, seen_mask;
	/* the thread's */
	struct hl_symbolizer *sym;
	char *exe;
	uint64_t *own_mods; /* ids of loaded modules that are the program's own */
	size_t nown, own_cap;
	bool failed;
};

static void entry_free(struct entry *e)
{
	if (e->mod) {
		free(e->mod->path);
		free(e->mod->build_id);
		free(e->mod);
	}
	free(e->exe);
}

/* ---- the main thread's side: the replay's hooks ------------------------- */

/* The batch to the queue.  A failed copy only loses prefetching. */
static void hand_over(struct hl_symprefetch *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->qn + p->nbatch > p->qcap) {
		size_t cap = p->qcap ? 2 * p->qcap : 4 * QBATCH;
		struct entry *q;

		while (cap < p->qn + p->nbatch)
			cap *= 2;
		q = realloc(p->q, cap * sizeof(*q));
		if (!q) {
			p->nomem = true;
			p->cancel = true;
			pthread_mutex_unlock(&p->lock);
			for (size_t i = 0; i < p->nbatch; i++)
				entry_free(&p->batch[i]);
			p->nbatch = 0;
			return;
		}
		p->q = q;
		p->qcap = cap;
	}
	memcpy(p->q + p->qn, p->batch, p->nbatch * sizeof(*p->batch));
	p->qn += p->nbatch;
	p->nbatch = 0;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
}

static void put(struct hl_symprefetch *p, struct entry e)
{
	if (p->nomem) {
		entry_free(&e);
		return;
	}
	p->batch[p->nbatch++] = e;
	if (p->nbatch == QBATCH)
		hand_over(p);
}

/* The executable's path, once, before the first module or node: from then
 * on INFO is known if the trace has one (it comes first). */
static void send_exe(struct hl_symprefetch *p, const struct hl_replay *r)
{
	const struct hl_info *info = hl_replay_info(r);

	p->exe_sent = true;
	if (info && info->exe) {
		char *exe = strdup(info->exe);

		if (!exe)
			p->nomem = true;
		else
			put(p, (struct entry){.kind = E_EXE, .exe = exe});
	}
}

/* Whether ip was handed over already since the last module record; notes
 * it if not.  Out of memory: false (it is handed over again, no harm). */
static bool seen_before(struct hl_symprefetch *p, uint64_t ip)
{
	uint64_t key = ip + 1;
	size_t i;

	if (!key)
		return false; /* ip UINT64_MAX: not worth a slot of its own */
	if (p->seen_n * 2 >= p->seen_mask) {
		size_t cap = p->seen ? 2 * (p->seen_mask + 1) : 4096;
		uint64_t *t = calloc(cap, sizeof(*t));

		if (!t)
			return false;
		for (size_t j = 0; p->seen && j <= p->seen_mask; j++) {
			if (!p->seen[j])
				continue;
			for (i = (p->seen[j] * 0x9e3779b97f4a7c15ull) >> 20 & (cap - 1); t[i];
			     i = (i + 1) & (cap - 1))
				;
			t[i] = p->seen[j];
		}
		free(p->seen);
		p->seen = t;
		p->seen_mask = cap - 1;
	}
	for (i = (key * 0x9e3779b97f4a7c15ull) >> 20 & p->seen_mask; p->seen[i];
	     i = (i + 1) & p->seen_mask)
		if (p->seen[i] == key)
			return true;
	p->seen[i] = key;
	p->seen_n++;
	return false;
}

/* A module record can change which module an ip is in: every ip counts as
 * new again. */
static void seen_forget(struct hl_symprefetch *p)
{
	if (p->seen && p->seen_n)
		memset(p->seen, 0, (p->seen_mask + 1) * sizeof(*p->seen));
	p->seen_n = 0;
}

static int h_node(void *ctx, const struct hl_replay *r, uint64_t id, uint64_t ip)
{
	struct hl_symprefetch *p = ctx;

	(void)id;
	if (!p->exe_sent)
		send_exe(p, r);
	if (!seen_before(p, ip))
		put(p, (struct entry){.kind = E_NODE, .v = ip});
	return 0;
}

static int h_module_load(void *ctx, const struct hl_replay *r, const struct hl_module *m)
{
	struct hl_symprefetch *p = ctx;
	struct hl_module *c = malloc(sizeof(*c));

	if (!p->exe_sent)
		send_exe(p, r);
	seen_forget(p);
	if (c) {
		*c = *m;
		c->path = strdup(m->path ? m->path : "");
		c->build_id = malloc(m->build_id_len ? m->build_id_len : 1);
		if (c->build_id && m->build_id_len)
			memcpy(c->build_id, m->build_id, m->build_id_len);
	}
	if (!c || !c->path || !c->build_id) {
		if (c) {
			free(c->path);
			free(c->build_id);
			free(c);
		}
		p->nomem = true; /* the symbolizer would miss a module: stop here */
		return 0;
	}
	put(p, (struct entry){.kind = E_LOAD, .mod = c});
	return 0;
}

static int h_module_unload(void *ctx, const struct hl_replay *r, uint64_t id)
{
	struct hl_symprefetch *p = ctx;

	(void)r;
	seen_forget(p);
	put(p, (struct entry){.kind = E_UNLOAD, .v = id});
	return 0;
}

/* ---- the thread's side -------------------------------------------------- */

static bool own_module(const struct hl_symprefetch *p, uint64_t id)
{
	for (size_t i = 0; i < p->nown; i++)
		if (p->own_mods[i] == id)
			return true;
	return false;
}

/* One entry; false when out of memory (the symbolizer is then incomplete). */
static bool take(struct hl_symprefetch *p, struct entry *e)
{
	const struct hl_frame *frames;
	uint64_t mod;
	int ret;

	switch (e->kind) {
	case E_EXE:
		free(p->exe);
		p->exe = e->exe;
		e->exe = NULL;
		return true;
	case E_LOAD:
		ret = hl_symbolizer_add_module(p->sym, e->mod);
		if (ret && ret != -EEXIST)
			return false;
		if (!ret && hl_stacks_own_path(p->exe, e->mod->path)) {
			if (p->nown == p->own_cap) {
				size_t cap = p->own_cap ? 2 * p->own_cap : 16;
				uint64_t *v = realloc(p->own_mods, cap * sizeof(*v));

				if (!v)
					return false;
				p->own_mods = v;
				p->own_cap = cap;
			}
			p->own_mods[p->nown++] = e->mod->id;
		}
		return true;
	case E_UNLOAD:
		hl_symbolizer_unload_module(p->sym, e->v); /* unknown: a broken trace's */
		return true;
	default:
		mod = hl_symbolizer_module_at(p->sym, e->v);
		return mod == HL_SYM_NO_MODULE || !own_module(p, mod) ||
		       hl_symbolizer_resolve(p->sym, mod, e->v, &frames) != -ENOMEM;
	}
}

static void *run(void *arg)
{
	struct hl_symprefetch *p = arg;
	struct entry *mine = NULL;
	size_t n = 0, cap = 0;

	for (;;) {
		bool last;

		pthread_mutex_lock(&p->lock);
		while (!p->qn && !p->done && !p->cancel)
			pthread_cond_wait(&p->more, &p->lock);
		if (p->cancel) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		/* Swap: the main thread fills the other array meanwhile. */
		struct entry *q = p->q;
		size_t qcap = p->qcap;

		n = p->qn;
		p->q = mine;
		p->qcap = cap;
		p->qn = 0;
		mine = q;
		cap = qcap;
		last = p->done;
		pthread_mutex_unlock(&p->lock);
		for (size_t i = 0; i < n; i++) {
			if (!p->failed && !take(p, &mine[i]))
				p->failed = true;
			entry_free(&mine[i]);
		}
		if (last)
			break;
	}
	free(mine);
	return NULL;
}

static void destroy(struct hl_symprefetch *p)
{
	for (size_t i = 0; i < p->qn; i++)
		entry_free(&p->q[i]);
	for (size_t i = 0; i < p->nbatch; i++)
		entry_free(&p->batch[i]);
	free(p->q);
	free(p->seen);
	hl_symbolizer_destroy(p->sym);
	free(p->own_mods);
	free(p->exe);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->more);
	free(p);
}

struct hl_symprefetch *hl_symprefetch_start(struct hl_replay *r)
{
	struct hl_symprefetch *p;

	cpu_set_t set;

	/* One CPU to run on (taskset, a cpuset): it would only take turns
	 * with the replay. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) < 2
							 : sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	p->sym = hl_symbolizer_new();
	struct hl_replay_hooks h = {
	    .ctx = p,
	    .node = h_node,
	    .module_load = h_module_load,
	    .module_unload = h_module_unload,
	};
	if (!p->sym || pthread_create(&p->thread, NULL, run, p)) {
		destroy(p);
		return NULL;
	}
	if (hl_replay_add_hooks(r, &h)) {
		hl_symprefetch_cancel(p);
		return NULL;
	}
	return p;
}

static void stop(struct hl_symprefetch *p, bool cancel)
{
	if (!cancel && p->nbatch)
		hand_over(p);
	pthread_mutex_lock(&p->lock);
	p->done = true;
	p->cancel = p->cancel || cancel;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
}

struct hl_symbolizer *hl_symprefetch_finish(struct hl_symprefetch *p)
{
	struct hl_symbolizer *sym = NULL;

	if (!p)
		return NULL;
	stop(p, false);
	if (!p->failed && !p->nomem) {
		sym = p->sym;
		p->sym = NULL;
	}
	destroy(p);
	return sym;
}

void hl_symprefetch_cancel(struct hl_symprefetch *p)
{
	if (!p)
		return;
	stop(p, true);
	destroy(p);
}
