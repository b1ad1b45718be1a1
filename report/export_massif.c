/* export_massif.c — valgrind massif's out-file format from a trace, for
 * ms_print and massif-visualizer.
 *
 * Massif snapshots the heap after allocator calls, keeps about 100 of them
 * spread over the run, and writes a heap tree for every tenth and for the
 * peak.  We do the same on a second pass over the trace: with N the events
 * the summary counts (allocations + frees), a snapshot after every
 * ceil(N / 97)th event, one after the event that first reached the peak
 * (heap_tree=peak), and a last one at the end of the run (detailed, so what
 * was never freed shows).  Snapshot 0 is the empty heap at time 0.
 *
 * A heap tree is massif's: the root holds every live byte, its children are
 * the innermost frames of the live blocks' stacks, theirs the callers, down
 * to main (massif's --show-below-main=no) or 30 frames (--depth=30); inlined
 * calls are frames of their own at the same address.  Children under 1% of
 * the snapshot's heap (--threshold=1.0) are folded into one "in N places"
 * line.  Siblings are sorted by bytes, largest first, as massif sorts them.
 * Time is the trace's clock, ms (ticks ~10 ms apart). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "export_formats.h"
#include "progress.h"

#define MASSIF_SNAPSHOTS     100
#define MASSIF_DETAILED_FREQ 10
#define MASSIF_DEPTH	     30
#define MASSIF_THRESHOLD_PCT 1 /* --threshold=1.0 */

enum snap_kind { SNAP_EMPTY, SNAP_DETAILED, SNAP_PEAK };

/* One node of a heap tree: a frame, the bytes live below it. */
struct tnode {
	const struct hl_frame *frame; /* the key: frames are cached per (module, ip) */
	uint64_t ip;
	uint64_t bytes;
	struct tnode *children; /* uthash head */
	UT_hash_handle hh;
};

/* Live bytes per stack node, summed over the blocks before the tree grows. */
struct node_bytes {
	uint64_t node; /* the key */
	uint64_t bytes;
	UT_hash_handle hh;
};

struct massif {
	FILE *f;
	struct hl_stacks *st;
	const struct hl_replay *r; /* the second pass's replay, while a tree is built */
	uint64_t stride;	   /* events between snapshots */
	uint64_t peak_bytes;
	uint64_t events;
	unsigned snapshots; /* written so far */
	int peak_done;
	uint64_t last_ms;
	struct node_bytes *per_node;
};

/* ---- the heap tree ------------------------------------------------------------ */

static void tree_free(struct tnode *t)
{
	struct tnode *c, *tmp;

	HASH_ITER(hh, t->children, c, tmp)
	{
		HASH_DEL(t->children, c);
		tree_free(c);
	}
	free(t);
}

static int sum_block(void *ctx, uint64_t ptr, uint64_t size, uint64_t node)
{
	struct massif *m = ctx;
	struct node_bytes *e;

	if (!size)
		return 0; /* malloc(0) blocks hold no bytes and draw nothing */
	HASH_FIND(hh, m->per_node, &node, sizeof(node), e);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->node = node;
		HASH_ADD(hh, m->per_node, node, sizeof(e->node), e);
		if (!e->hh.tbl) {
			free(e);
			return -ENOMEM;
		}
	}
	e->bytes += size;
	return 0;
}

/* Adds one stack's bytes along its path from the root: innermost frame
 * first, as massif's trees are. */
static int tree_add(struct massif *m, struct tnode *root, uint64_t node, uint64_t bytes)
{
	struct tnode *cur = root;
	unsigned depth = 0;

	root->bytes += bytes;
	for (unsigned steps = 0; node && steps < 100000; steps++) {
		const struct hl_frame *fr;
		uint64_t parent, ip;
		int n;

		if (hl_replay_node(m->r, node, &parent, &ip))
			break;
		n = hl_stacks_node_frames(m->st, node, &fr, NULL);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			const struct hl_frame *key = &fr[i];
			struct tnode *c;

			HASH_FIND_PTR(cur->children, &key, c);
			if (!c) {
				c = calloc(1, sizeof(*c));
				if (!c)
					return -ENOMEM;
				c->frame = key;
				c->ip = ip;
				HASH_ADD_PTR(cur->children, frame, c);
				if (!c->hh.tbl) {
					free(c);
					return -ENOMEM;
				}
			}
			c->bytes += bytes;
			cur = c;
			if (++depth == MASSIF_DEPTH ||
			    (fr[i].function && !strcmp(fr[i].function, "main")))
				return 0;
		}
		if (parent >= node) /* parents come first; anything else is a loop */
			break;
		node = parent;
	}
	return 0;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* Massif's "0xADDR: fn (file:line)", "0xADDR: fn (in /module)" or
 * "0xADDR: ???".  The address is the one looked up: return address - 1. */
static void print_frame(FILE *f, const struct hl_frame *fr, uint64_t ip)
{
	fprintf(f, "0x%" PRIX64 ": %s", ip ? ip - 1 : 0, fr->function ? fr->function : "???");
	if (fr->file && fr->line)
		fprintf(f, " (%s:%u)", base_name(fr->file), fr->line);
	else if (fr->module)
		fprintf(f, " (in %s)", fr->module);
	fputc('\n', f);
}

/* A child as printed: a node, or the children under the threshold together. */
struct item {
	const struct tnode *node; /* NULL: the insignificant ones */
	uint64_t bytes;
	unsigned places;
};

static int cmp_items(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	char x[64], y[64];

	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	if (!a->node || !b->node) /* equal bytes: the significant one first */
		return !a->node - !b->node;
	/* the same bytes: by name, then address, not by hash order */
	int c = strcmp(a->node->frame->function ? a->node->frame->function : "",
		       b->node->frame->function ? b->node->frame->function : "");
	if (c)
		return c;
	snprintf(x, sizeof(x), "%016" PRIx64, a->node->ip);
	snprintf(y, sizeof(y), "%016" PRIx64, b->node->ip);
	return strcmp(x, y);
}

static int tree_print(FILE *f, const struct tnode *t, unsigned depth, uint64_t total)
{
	size_t nc = HASH_COUNT(t->children), n = 0;
	struct item *items = calloc(nc + 1, sizeof(*items));
	struct item insig = {0};
	const struct tnode *c, *tmp;
	int ret = 0;

	if (!items)
		return -ENOMEM;
	HASH_ITER(hh, t->children, c, tmp)
	{
		/* significant: at least 1% of the snapshot's heap, as ms_print checks */
		if (c->bytes * 100 >= total * MASSIF_THRESHOLD_PCT)
			items[n++] = (struct item){.node = c, .bytes = c->bytes};
		else
			insig.bytes += c->bytes, insig.places++;
	}
	if (insig.places)
		items[n++] = insig;
	qsort(items, n, sizeof(*items), cmp_items);

	fprintf(f, "%*sn%zu: %" PRIu64 " ", (int)depth, "", n, t->bytes);
	if (depth == 0)
		fputs("(heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n", f);
	else
		print_frame(f, t->frame, t->ip);
	for (size_t i = 0; i < n && !ret; i++) {
		if (items[i].node) {
			ret = tree_print(f, items[i].node, depth + 1, total);
		} else {
			fprintf(
			    f,
			    "%*sn0: %" PRIu64 " in %u place%s below massif's threshold (%.2f%%)\n",
			    (int)depth + 1, "", items[i].bytes, items[i].places,
			    items[i].places == 1 ? "," : "s, all", (double)MASSIF_THRESHOLD_PCT);
		}
	}
	free(items);
	return ret;
}

/* The tree of the blocks live in m->r now. */
static int write_tree(struct massif *m, uint64_t live)
{
	struct tnode *root = calloc(1, sizeof(*root));
	struct node_bytes *e, *tmp;
	int ret;

	if (!root)
		return -ENOMEM;
	ret = hl_replay_foreach_live(m->r, sum_block, m);
	HASH_ITER(hh, m->per_node, e, tmp)
	{
		if (!ret)
			ret = tree_add(m, root, e->node, e->bytes);
		HASH_DEL(m->per_node, e);
		free(e);
	}
	if (!ret)
		ret = tree_print(m->f, root, 0, live);
	tree_free(root);
	return ret;
}

/* ---- snapshots ----------------------------------------------------------------- */

static int snapshot(struct massif *m, uint64_t ms, uint64_t live, enum snap_kind kind)
{
	static const char *const trees[] = {"empty", "detailed", "peak"};

	fprintf(m->f,
		"#-----------\nsnapshot=%u\n#-----------\ntime=%" PRIu64 "\nmem_heap_B=%" PRIu64
		"\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=%s\n",
		m->snapshots++, ms, live, trees[kind]);
	return kind == SNAP_EMPTY ? 0 : write_tree(m, live);
}

static int on_event(void *ctx, const struct hl_replay *r, const struct hl_event *ev)
{
	struct massif *m = ctx;
	enum snap_kind kind = SNAP_EMPTY;

	m->r = r;
	m->last_ms = ev->time_ms;
	if (ev->kind == HL_EV_REPLACED)
		return 0; /* the allocation that follows is the event */
	m->events++;
	if (!m->peak_done && m->peak_bytes && ev->live_bytes == m->peak_bytes) {
		m->peak_done = 1;
		return snapshot(m, ev->time_ms, ev->live_bytes, SNAP_PEAK);
	}
	if (m->events % m->stride)
		return 0;
	if (m->snapshots % MASSIF_DETAILED_FREQ == MASSIF_DETAILED_FREQ - 1)
		kind = SNAP_DETAILED;
	return snapshot(m, ev->time_ms, ev->live_bytes, kind);
}

int hl_export_massif(FILE *f, struct hl_trace *t, struct hl_stacks *st,
		     const struct hl_summary *sum, char *err, size_t errlen)
{
	/* room for snapshot 0, the peak and the last one */
	const uint64_t regular = MASSIF_SNAPSHOTS - 3;
	uint64_t nevents = sum->allocations + sum->frees;
	struct massif m = {
	    .f = f,
	    .st = st,
	    .stride = nevents > regular ? (nevents + regular - 1) / regular : 1,
	    .peak_bytes = sum->peak_bytes,
	};
	const struct hl_replay_hooks h = {.ctx = &m, .event = on_event};
	struct hl_progress progress;
	struct hl_replay_hooks ph;
	struct hl_replay *r = hl_replay_new();
	int ret;

	if (!r || hl_replay_add_hooks(r, &h)) {
		hl_replay_free(r);
		snprintf(err, errlen, "%s: out of memory", hl_trace_path(t));
		return -1;
	}
	fprintf(f, "desc: --time-unit=ms --depth=%d --threshold=1.0 (heapline, from %s)\n",
		MASSIF_DEPTH, hl_trace_path(t));
	fprintf(f, "cmd: %s\n",
		sum->command && sum->command[0] ? sum->command
		: sum->exe			? sum->exe
						: "(unknown)");
	fputs("time_unit: ms\n", f);
	snapshot(&m, 0, 0, SNAP_EMPTY);

	hl_progress_begin(&progress, "writing massif snapshots of", hl_trace_path(t));
	ph = hl_progress_hooks(&progress);
	hl_replay_add_hooks(r, &ph);
	ret = hl_replay_run(r, t, err, errlen);
	hl_progress_end(&progress);
	if (!ret) {
		/* the end of the run: what was never freed */
		uint64_t end = sum->duration_ms > m.last_ms ? sum->duration_ms : m.last_ms;
		struct hl_summary now;

		m.r = r;
		ret = hl_replay_summary(r, &now);
		if (!ret) {
			ret = snapshot(&m, end, now.leaked_bytes, SNAP_DETAILED);
			hl_summary_release(&now);
		}
	}
	hl_replay_free(r);
	if (ret == -1)
		return -1;
	if (ret) {
		snprintf(err, errlen, "%s: massif export: %s", hl_trace_path(t), strerror(-ret));
		return -1;
	}
	if (!m.peak_done && m.peak_bytes) {
		snprintf(err, errlen,
			 "%s: massif export: the second pass over the trace never reached the peak",
			 hl_trace_path(t));
		return -1;
	}
	return 0;
}
