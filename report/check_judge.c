/* check_judge.c — judges one trace for `heapline check` (check_judge.h).
 *
 * Two passes over the trace:
 *   1. the reader alone: collects the LEAKS records (address -> class) and
 *      counts the events the replay will emit before the first of them;
 *   2. the replay: at that event count the classes are laid over the live
 *      blocks; a block released afterwards (by a destructor that ran after
 *      the scan, or a thread still running) drops its class, and a block
 *      allocated afterwards has none.
 * Blocks live at the end then get their class, or "still reachable" when
 * they were allocated after the scan (documented in README), or "definitely
 * lost" when the trace holds no scan at all (recorded by `heapline run`, or
 * a process that ended in _exit or abort), the CI-safe answer, with a
 * warning.  An image that ended in exec has nothing to judge.  Leaks are grouped by (stack, class),
 * symbolized (stacks.h) and matched against the suppressions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "check_judge.h"
#include "hl_format.h"

static const char *const kind_names[] = {"definite", "indirect", "possible", "reachable"};
static const char *const kind_titles[] = {"definitely lost", "indirectly lost", "possibly lost",
					  "still reachable"};

const char *hl_kind_name(enum hl_kind k)
{
	return k < HL_KIND_COUNT ? kind_names[k] : "?";
}

const char *hl_kind_title(enum hl_kind k)
{
	return k < HL_KIND_COUNT ? kind_titles[k] : "?";
}

/* ---- pass 1: the scan and where it is ------------------------------------ */

struct classified {
	uint64_t ptr;
	uint8_t kind;
	uint8_t gone; /* released after the scan */
};

struct pend {
	uint64_t tid; /* key */
	uint64_t ptr;
	int valid;
	UT_hash_handle hh;
};

struct pass1 {
	uint64_t events; /* replay events so far (REPLACED not counted) */
	uint64_t at;	 /* events before the first LEAKS record */
	bool scanned;
	uint64_t flags, scan_us;
	struct classified *c;
	size_t n, cap;
	uint64_t tid;
	struct pend *pend; /* realloc-frees that a REALLOC_FAIL may undo */
};

static struct pend *pend_of(struct pass1 *p)
{
	struct pend *e;

	HASH_FIND(hh, p->pend, &p->tid, sizeof(p->tid), e);
	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->tid = p->tid;
	HASH_ADD(hh, p->pend, tid, sizeof(e->tid), e);
	if (!e->hh.tbl) {
		free(e);
		return NULL;
	}
	return e;
}

/* Mirrors replay.c: every ALLOC and FREE record is one event; a
 * REALLOC_FAIL is one only when it undoes this thread's pending
 * realloc-free. */
static int p1_thread(void *ctx, uint64_t tid)
{
	((struct pass1 *)ctx)->tid = tid;
	return 0;
}

static int p1_alloc(void *ctx, unsigned fn, uint64_t node, uint64_t ptr, uint64_t size)
{
	struct pass1 *p = ctx;

	p->events++;
	if (fn == HL_FN_REALLOC || fn == HL_FN_REALLOCARRAY) {
		struct pend *e = pend_of(p);
		if (!e)
			return -ENOMEM;
		e->valid = 0;
	}
	return 0;
}

static int p1_free(void *ctx, unsigned fn, uint64_t node, uint64_t ptr)
{
	struct pass1 *p = ctx;

	p->events++;
	if (fn == HL_FN_REALLOC || fn == HL_FN_REALLOCARRAY) {
		struct pend *e = pend_of(p);
		if (!e)
			return -ENOMEM;
		e->valid = 1;
		e->ptr = ptr;
	}
	return 0;
}

static int p1_realloc_fail(void *ctx, uint64_t ptr)
{
	struct pass1 *p = ctx;
	struct pend *e = pend_of(p);

	if (!e)
		return -ENOMEM;
	if (e->valid && e->ptr == ptr) {
		e->valid = 0;
		p->events++;
	}
	return 0;
}

static int p1_leak(void *ctx, uint64_t ptr, unsigned cls)
{
	struct pass1 *p = ctx;

	if (!p->scanned) {
		p->scanned = true;
		p->at = p->events;
	}
	if (p->n == p->cap) {
		size_t nc = p->cap ? 2 * p->cap : 1024;
		struct classified *c = realloc(p->c, nc * sizeof(*c));
		if (!c)
			return -ENOMEM;
		p->c = c;
		p->cap = nc;
	}
	p->c[p->n++] = (struct classified){ptr, (uint8_t)cls, 0};
	return 0;
}

static int p1_scan(void *ctx, const struct hl_leak_scan *scan)
{
	struct pass1 *p = ctx;

	if (!p->scanned) { /* a scan that classified nothing */
		p->scanned = true;
		p->at = p->events;
	}
	p->flags |= scan->flags;
	if (scan->scan_us > p->scan_us)
		p->scan_us = scan->scan_us;
	return 0;
}

static int cmp_classified(const void *a, const void *b)
{
	const struct classified *x = a, *y = b;

	return x->ptr < y->ptr ? -1 : x->ptr > y->ptr;
}

static struct classified *find_classified(struct pass1 *p, uint64_t ptr)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (p->c[mid].ptr < ptr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->n && p->c[lo].ptr == ptr ? &p->c[lo] : NULL;
}

/* ---- pass 2: the replay ------------------------------------------------------ */

struct pass2 {
	struct pass1 *p1;
	uint64_t events;
};

static int p2_event(void *ctx, const struct hl_replay *r, const struct hl_event *ev)
{
	struct pass2 *q = ctx;

	(void)r;
	/* REPLACED comes before its ALLOC and is not counted in pass 1. */
	bool before = q->events < q->p1->at;
	if (ev->kind != HL_EV_REPLACED)
		q->events++;
	if (before)
		return 0; /* the classes describe the state after these events */
	/* a release, or a free the library missed: what was scanned is gone */
	if (ev->kind == HL_EV_FREE || ev->kind == HL_EV_REPLACED) {
		struct classified *c = find_classified(q->p1, ev->ptr);
		if (c)
			c->gone = 1;
	}
	return 0;
}

/* ---- grouping ------------------------------------------------------------------ */

struct group {
	struct {
		uint64_t node;
		uint64_t kind;
	} key;
	uint64_t bytes, blocks;
	UT_hash_handle hh;
};

struct live_ctx {
	struct pass1 *p1;
	struct hl_judged *j;
	struct group *groups;
	int nomem;
};

static int on_live(void *ctx, uint64_t ptr, uint64_t size, uint64_t node)
{
	struct live_ctx *lc = ctx;
	enum hl_kind kind = HL_KIND_DEFINITE;
	struct group *g;

	if (lc->p1->scanned) {
		struct classified *c = find_classified(lc->p1, ptr);
		if (c && !c->gone) {
			kind = (enum hl_kind)c->kind;
		} else {
			kind = HL_KIND_REACHABLE;
			lc->j->late_blocks++;
		}
	}
	struct group key = {.key = {node, kind}};
	HASH_FIND(hh, lc->groups, &key.key, sizeof(key.key), g);
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g)
			goto nomem;
		g->key = key.key;
		HASH_ADD(hh, lc->groups, key, sizeof(g->key), g);
		if (!g->hh.tbl) {
			free(g);
			goto nomem;
		}
	}
	g->bytes += size;
	g->blocks++;
	return 0;
nomem:
	lc->nomem = 1;
	return -ENOMEM;
}

struct frames_ctx {
	struct hl_leak *l;
	size_t cap;
};

static int add_frame(void *ctx, const struct hl_frame *f, bool own)
{
	struct frames_ctx *fc = ctx;
	struct hl_leak *l = fc->l;

	if (l->nframes == fc->cap) {
		size_t nc = fc->cap ? 2 * fc->cap : 16;
		const struct hl_frame **fr = realloc(l->frames, nc * sizeof(*fr));
		if (!fr)
			return -ENOMEM;
		l->frames = fr;
		bool *o = realloc(l->own, nc * sizeof(*o));
		if (!o)
			return -ENOMEM;
		l->own = o;
		fc->cap = nc;
	}
	l->frames[l->nframes] = f;
	l->own[l->nframes] = own;
	l->nframes++;
	return 0;
}

static int leak_cmp(const void *a, const void *b)
{
	const struct hl_leak *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->blocks != y->blocks)
		return x->blocks > y->blocks ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

static int make_leaks(struct hl_judged *j, struct group *groups, struct hl_supp *supp,
		      unsigned detail)
{
	struct group *g, *tmp;
	size_t n = HASH_COUNT(groups), i = 0;

	j->leaks = calloc(n ? n : 1, sizeof(*j->leaks));
	if (!j->leaks)
		return -ENOMEM;
	HASH_ITER(hh, groups, g, tmp)
	{
		struct hl_leak *l = &j->leaks[i++];
		struct frames_ctx fc = {l, 0};

		l->kind = (enum hl_kind)g->key.kind;
		l->node = g->key.node;
		l->bytes = g->bytes;
		l->blocks = g->blocks;
		l->trace = j;
		l->loc = -1;
		l->supp = -1;
		j->nleaks = i;
		if (!(detail & (1u << l->kind))) {
			j->bytes[l->kind] += l->bytes;
			j->blocks[l->kind] += l->blocks;
			continue;
		}
		l->detailed = true;
		int ret = hl_stacks_walk(j->st, l->node, add_frame, &fc);
		if (ret)
			return ret;
		for (size_t k = 0; k < l->nframes && l->loc < 0; k++)
			if (l->own[k] && l->frames[k]->file && l->frames[k]->line)
				l->loc = (int)k;
		for (size_t k = 0; k < l->nframes && l->loc < 0; k++)
			if (l->frames[k]->file && l->frames[k]->line)
				l->loc = (int)k;
		l->supp = hl_supp_match(supp, l->frames, l->nframes);
		if (l->supp >= 0) {
			struct hl_supp_rule *r = &supp->rules[l->supp];
			r->leaks++;
			r->blocks += l->blocks;
			r->bytes += l->bytes;
			j->supp_bytes += l->bytes;
			j->supp_blocks += l->blocks;
		} else {
			j->bytes[l->kind] += l->bytes;
			j->blocks[l->kind] += l->blocks;
		}
	}
	qsort(j->leaks, j->nleaks, sizeof(*j->leaks), leak_cmp);
	for (i = 0; i < j->nleaks; i++) /* trace pointers survive the sort */
		j->leaks[i].trace = j;
	return 0;
}

/* ---- the whole ------------------------------------------------------------------ */

int hl_judge_trace(const char *path, struct hl_supp *supp, unsigned detail, struct hl_judged *j,
		   char *err, size_t errlen)
{
	struct pass1 p1 = {.tid = 1};
	struct hl_trace *t = NULL;
	struct live_ctx lc = {&p1, j, NULL, 0};
	struct pend *e, *etmp;
	struct group *g, *gtmp;
	int ret = -1, rc;

	memset(j, 0, sizeof(*j));
	if (!(j->path = strdup(path))) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (hl_trace_open(path, &t, err, errlen)) {
		hl_judged_free(j);
		return -1;
	}

	const struct hl_visitor v1 = {
	    .ctx = &p1,
	    .thread = p1_thread,
	    .alloc = p1_alloc,
	    .free = p1_free,
	    .realloc_fail = p1_realloc_fail,
	    .leak = p1_leak,
	    .leak_scan = p1_scan,
	};
	rc = hl_trace_read(t, &v1, err, errlen);
	if (rc == -ENOMEM)
		goto nomem;
	if (rc)
		goto out;
	qsort(p1.c, p1.n, sizeof(*p1.c), cmp_classified);
	j->scanned = p1.scanned;
	j->scan_flags = p1.flags;
	j->scan_us = p1.scan_us;

	/* pass 2: the replay reads the file again from its start */
	struct pass2 p2 = {&p1, 0};
	const struct hl_replay_hooks hooks = {.ctx = &p2, .event = p2_event};
	j->r = hl_replay_new();
	if (!j->r || hl_replay_add_hooks(j->r, &hooks))
		goto nomem;
	rc = hl_replay_run(j->r, t, err, errlen);
	if (rc)
		goto out;
	if (hl_replay_summary(j->r, &j->sum))
		goto nomem;

	/* An image replaced by exec ends without a scan; its blocks went with
	 * it (memcheck does not judge them either). */
	j->exec_ended = !p1.scanned && j->sum.ended && j->sum.end_reason == HL_END_EXEC;
	if (!j->exec_ended && (hl_replay_foreach_live(j->r, on_live, &lc) || lc.nomem))
		goto nomem;
	j->st = hl_stacks_new(j->r);
	if (!j->st || make_leaks(j, lc.groups, supp, detail))
		goto nomem;
	ret = 0;
	goto out;
nomem:
	snprintf(err, errlen, "%s: out of memory", path);
out:
	HASH_ITER(hh, lc.groups, g, gtmp)
	{
		HASH_DEL(lc.groups, g);
		free(g);
	}
	HASH_ITER(hh, p1.pend, e, etmp)
	{
		HASH_DEL(p1.pend, e);
		free(e);
	}
	free(p1.c);
	hl_trace_close(t);
	if (ret)
		hl_judged_free(j);
	return ret;
}

void hl_judged_free(struct hl_judged *j)
{
	for (size_t i = 0; i < j->nleaks; i++) {
		free(j->leaks[i].frames);
		free(j->leaks[i].own);
	}
	free(j->leaks);
	hl_stacks_free(j->st);
	hl_replay_free(j->r);
	hl_summary_release(&j->sum);
	free(j->path);
	memset(j, 0, sizeof(*j));
}
