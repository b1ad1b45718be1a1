/* html_flame.c — the HTML report's flame graph tree (html_data.h): every
 * stack node that allocated, walked from main (or the thread's first frame)
 * to its innermost frame and merged into one tree through its symbolized
 * frames, so two return addresses in one function are one box.  A frame is
 * its function, file and module (the line is not part of it: the line
 * tables show lines); a frame without a name is its module.  A frame is
 * marked own (the page colours it warm) by stacks.h's rule: its module is
 * the program's own and its source is not a system header.  Each tree node
 * sums, inclusively, four metrics of the stacks through it: bytes allocated,
 * allocations, bytes live at the global peak and bytes leaked.
 *
 * Pruning keeps the page small whatever the trace: a node is kept when it
 * holds at least HL_HTML_PRUNE_PER_MILLE per mille of the total of one
 * metric; the rest of a node's children become one "other" child.  Siblings
 * are disjoint, so each level keeps at most 1000 nodes per metric.
 *
 * Written as {"metrics": [...], "totals": [...], "frames": [[function, file,
 * module, own], ...], "nodes": [parent, frame, m0, m1, m2, m3, ...]} with
 * nodes in pre-order (a parent before its children); frame -1 is the root,
 * -2 "other", -3 a stack with no frame at all. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "html_data.h"

#define NMETRICS    4
#define FRAME_ROOT  -1
#define FRAME_OTHER -2
#define FRAME_NONE  -3
#define NO_NODE	    UINT32_MAX

struct frame_key {
	const char *function, *file, *module; /* interned by the symbolizer */
};

struct frame_entry {
	struct frame_key key;
	bool own;
	int64_t idx; /* in tree.frames */
	int64_t out; /* in the written "frames", -1 until written */
	UT_hash_handle hh;
};

struct tnode {
	uint32_t parent, first_child, next_sibling;
	int64_t frame; /* index into tree.frames, or FRAME_* */
	uint64_t v[NMETRICS];
};

/* A child lookup: (parent, frame) -> node. */
struct edge_key {
	uint32_t parent;
	int64_t frame;
};

struct edge {
	struct edge_key key;
	uint32_t node;
	UT_hash_handle hh;
};

struct tree {
	struct frame_entry *frame_hash;
	struct frame_entry **frames;
	size_t nframes, frames_cap;
	struct edge *edges;
	struct tnode *n;
	size_t count, cap;
	/* stack node -> tree node (NO_NODE: not placed yet) */
	uint32_t *at;
	uint64_t nnodes;
	uint64_t *chain; /* tree_at's work list */
	size_t pcap;
};

static int64_t frame_of(struct tree *t, const struct hl_frame *fr, bool own)
{
	struct frame_key k = {fr->function, fr->file, fr->module};
	struct frame_entry *e;

	HASH_FIND(hh, t->frame_hash, &k, sizeof(k), e);
	if (e)
		return e->idx;
	if (t->nframes == t->frames_cap) {
		size_t cap = t->frames_cap ? t->frames_cap * 2 : 256;
		struct frame_entry **v = realloc(t->frames, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->frames = v;
		t->frames_cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->key = k;
	e->own = own;
	e->idx = (int64_t)t->nframes;
	e->out = -1;
	HASH_ADD(hh, t->frame_hash, key, sizeof(e->key), e);
	if (!e->hh.tbl) {
		free(e);
		return -ENOMEM;
	}
	t->frames[t->nframes++] = e;
	return e->idx;
}

static uint32_t node_new(struct tree *t, uint32_t parent, int64_t frame)
{
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct tnode *v;

		if (cap >= NO_NODE)
			return NO_NODE;
		v = realloc(t->n, cap * sizeof(*v));
		if (!v)
			return NO_NODE;
		t->n = v;
		t->cap = cap;
	}
	struct tnode *n = &t->n[t->count];
	memset(n, 0, sizeof(*n));
	n->parent = parent;
	n->frame = frame;
	n->first_child = NO_NODE;
	n->next_sibling = NO_NODE;
	if (parent != NO_NODE) {
		n->next_sibling = t->n[parent].first_child;
		t->n[parent].first_child = (uint32_t)t->count;
	}
	return (uint32_t)t->count++;
}

static uint32_t child_of(struct tree *t, uint32_t parent, int64_t frame)
{
	struct edge_key k;
	struct edge *e;
	uint32_t id;

	memset(&k, 0, sizeof(k)); /* the key is hashed bytewise, padding included */
	k.parent = parent;
	k.frame = frame;
	HASH_FIND(hh, t->edges, &k, sizeof(k), e);
	if (e)
		return e->node;
	id = node_new(t, parent, frame);
	if (id == NO_NODE)
		return NO_NODE;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NO_NODE;
	e->key = k;
	e->node = id;
	HASH_ADD(hh, t->edges, key, sizeof(e->key), e);
	if (!e->hh.tbl) {
		free(e);
		return NO_NODE;
	}
	return id;
}

/* The tree node of a replay stack node: its parent's, extended by its own
 * frames (outermost first); from the root again at a frame named main, or
 * after the C library's start-up code when main left the stack (a tail
 * call, a stripped program), since below main is the C runtime, as in the
 * site views.  Memoized per
 * stack node, parents first (their ids are smaller), so each stack node is
 * symbolized and looked up once, however many stacks share it. */
static uint32_t tree_at(struct tree *t, struct hl_stacks *st, const struct hl_replay *r,
			uint64_t node, int *err)
{
	uint64_t n = node, parent;
	size_t top = 0;

	/* the chain of stack nodes not placed yet, innermost first */
	while (n != 0 && n < t->nnodes && t->at[n] == NO_NODE) {
		if (top == t->pcap) {
			size_t cap = t->pcap ? t->pcap * 2 : 64;
			uint64_t *v = realloc(t->chain, cap * sizeof(*v));
			if (!v)
				goto nomem;
			t->chain = v;
			t->pcap = cap;
		}
		t->chain[top++] = n;
		if (hl_replay_node(r, n, &parent, NULL) || parent >= n)
			break; /* parents come first; anything else ends the stack */
		n = parent;
	}
	uint32_t at = n != 0 && n < t->nnodes && t->at[n] != NO_NODE ? t->at[n] : 0;
	while (top--) {
		const struct hl_frame *f;
		bool own;
		int k = hl_stacks_node_frames(st, t->chain[top], &f, &own), from;

		if (k < 0) {
			*err = k;
			return NO_NODE;
		}
		from = k - 1;
		for (int i = 0; i < k; i++) {
			if (f[i].function && !strcmp(f[i].function, "main")) {
				at = 0; /* the innermost main starts the stack */
				from = i;
				break;
			}
			if (hl_frame_below_main(&f[i])) {
				at = 0; /* or what the C runtime called, main or not */
				from = i - 1;
				break;
			}
		}
		for (int i = from; i >= 0; i--) {
			int64_t fr = frame_of(t, &f[i], own && !hl_stacks_system_frame(&f[i]));
			if (fr < 0 || (at = child_of(t, at, fr)) == NO_NODE)
				goto nomem;
		}
		t->at[t->chain[top]] = at;
	}
	return at;
nomem:
	*err = -ENOMEM;
	return NO_NODE;
}

static int add_stack(struct tree *t, struct hl_stacks *st, const struct hl_replay *r, uint64_t node,
		     const uint64_t v[NMETRICS])
{
	int err = 0;
	uint32_t at = tree_at(t, st, r, node, &err);

	if (at == NO_NODE)
		return err;
	if (at == 0) { /* no frame at all */
		at = child_of(t, 0, FRAME_NONE);
		if (at == NO_NODE)
			return -ENOMEM;
	}
	for (; at != NO_NODE; at = t->n[at].parent)
		for (int m = 0; m < NMETRICS; m++)
			t->n[at].v[m] += v[m];
	return 0;
}

static bool kept(const struct tree *t, const struct tnode *n)
{
	for (int m = 0; m < NMETRICS; m++)
		if (n->v[m] &&
		    (double)n->v[m] * 1000 >= (double)t->n[0].v[m] * HL_HTML_PRUNE_PER_MILLE)
			return true;
	return false;
}

static void write_node(struct hl_json *j, int64_t parent, int64_t frame, const uint64_t v[])
{
	hl_json_int(j, parent);
	hl_json_int(j, frame);
	for (int m = 0; m < NMETRICS; m++)
		hl_json_uint(j, v[m]);
}

/* Pre-order without recursion (stacks can be 100000 frames deep): each
 * popped node is written, then its "other", then its kept children are
 * pushed.  Written frames get their output index on first use. */
static int write_nodes(struct hl_json *j, struct tree *t, size_t *nframes_out)
{
	struct todo {
		uint32_t node;
		int64_t parent_out;
	} *stack = malloc(t->count * sizeof(*stack));
	int64_t written = 0;
	size_t sp = 0;

	if (!stack)
		return -ENOMEM;
	*nframes_out = 0;
	stack[sp++] = (struct todo){0, -1};
	hl_json_begin_array(j);
	while (sp) {
		struct todo d = stack[--sp];
		struct tnode *n = &t->n[d.node];
		int64_t frame = n->frame, self = written++;
		uint64_t other[NMETRICS] = {0};
		bool any_other = false;

		if (d.node == 0) {
			frame = FRAME_ROOT;
		} else if (frame >= 0) {
			struct frame_entry *fe = t->frames[frame];
			if (fe->out < 0)
				fe->out = (int64_t)(*nframes_out)++;
			frame = fe->out;
		}
		write_node(j, d.parent_out, frame, n->v);
		for (uint32_t c = n->first_child; c != NO_NODE; c = t->n[c].next_sibling) {
			if (kept(t, &t->n[c])) {
				stack[sp++] = (struct todo){c, self};
				continue;
			}
			for (int m = 0; m < NMETRICS; m++) {
				other[m] += t->n[c].v[m];
				any_other |= t->n[c].v[m] != 0;
			}
		}
		if (any_other) {
			write_node(j, self, FRAME_OTHER, other);
			written++;
		}
	}
	hl_json_end_array(j);
	free(stack);
	return 0;
}

static void write_frames(struct hl_json *j, struct tree *t, size_t nout)
{
	struct frame_entry **byout = calloc(nout ? nout : 1, sizeof(*byout));

	hl_json_begin_array(j);
	if (byout) {
		for (size_t i = 0; i < t->nframes; i++)
			if (t->frames[i]->out >= 0)
				byout[t->frames[i]->out] = t->frames[i];
		for (size_t i = 0; i < nout; i++) {
			hl_json_begin_array(j);
			hl_json_string(j, byout[i]->key.function);
			hl_json_string(j, byout[i]->key.file);
			hl_json_string(j, byout[i]->key.module);
			hl_json_bool(j, byout[i]->own);
			hl_json_end_array(j);
		}
	}
	hl_json_end_array(j);
	free(byout);
}

static void tree_free(struct tree *t)
{
	struct edge *e, *etmp;
	struct frame_entry *f, *ftmp;

	HASH_ITER(hh, t->edges, e, etmp)
	{
		HASH_DEL(t->edges, e);
		free(e);
	}
	HASH_ITER(hh, t->frame_hash, f, ftmp)
	{
		HASH_DEL(t->frame_hash, f);
		free(f);
	}
	free(t->frames);
	free(t->n);
	free(t->at);
	free(t->chain);
}

int hl_html_flame_json(struct hl_json *j, struct hl_stacks *st, const struct hl_replay *r,
		       const struct hl_agg *a)
{
	static const char *const metrics[NMETRICS] = {"bytes_allocated", "allocations",
						      "peak_bytes", "leaked_bytes"};
	struct tree t = {0};
	size_t nframes;
	int ret = 0;

	t.nnodes = hl_replay_node_count(r);
	t.at = malloc((t.nnodes ? t.nnodes : 1) * sizeof(*t.at));
	if (!t.at || node_new(&t, NO_NODE, FRAME_ROOT) == NO_NODE) {
		tree_free(&t);
		return -ENOMEM;
	}
	memset(t.at, 0xff, t.nnodes * sizeof(*t.at)); /* NO_NODE */
	for (size_t i = 0; i < hl_agg_count(a) && !ret; i++) {
		const struct hl_node_stats *s = hl_agg_stats(a, i);
		const uint64_t v[NMETRICS] = {s->alloc_bytes, s->allocs, s->peak_bytes,
					      s->leaked_bytes};

		if (s->allocs || s->peak_bytes || s->leaked_bytes)
			ret = add_stack(&t, st, r, hl_agg_node_id(a, i), v);
	}
	if (ret)
		goto out;
	hl_json_begin_object(j);
	hl_json_key(j, "metrics");
	hl_json_begin_array(j);
	for (int m = 0; m < NMETRICS; m++)
		hl_json_string(j, metrics[m]);
	hl_json_end_array(j);
	hl_json_key(j, "totals");
	hl_json_begin_array(j);
	for (int m = 0; m < NMETRICS; m++)
		hl_json_uint(j, t.n[0].v[m]);
	hl_json_end_array(j);
	hl_json_kv_uint(j, "prune_per_mille", HL_HTML_PRUNE_PER_MILLE);
	size_t used = 0; /* nodes with a number: placing stacks also made the
			  * frames below main, which hold none */
	for (size_t i = 0; i < t.count; i++)
		for (int m = 0; m < NMETRICS; m++)
			if (t.n[i].v[m]) {
				used++;
				break;
			}
	hl_json_kv_uint(j, "tree_nodes", used); /* before pruning */
	hl_json_key(j, "nodes");
	ret = write_nodes(j, &t, &nframes);
	if (ret)
		goto out;
	hl_json_key(j, "frames");
	write_frames(j, &t, nframes);
	hl_json_end_object(j);
out:
	tree_free(&t);
	return ret;
}
