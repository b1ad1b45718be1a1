/* stacks.c — stack nodes to frames for the views (stacks.h): feeds the
 * trace's modules to a symbolizer, resolves each node's return address once
 * against the module that held it when the node was recorded, and caches
 * the answer per node, so a stack shared by millions of events is
 * symbolized once. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "stacks.h"

/* Stacks deeper than this are cut: only a broken trace (a cycle) has them. */
#define MAX_WALK 100000

struct node_frames {
	const struct hl_frame *f; /* NULL until resolved */
	int n;
	bool own;
};

struct hl_stacks {
	const struct hl_replay *r;
	struct hl_symbolizer *sym;
	struct node_frames *nodes;
	uint64_t nnodes;
};

struct hl_stacks *hl_stacks_new(const struct hl_replay *r)
{
	struct hl_stacks *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->r = r;
	st->nnodes = hl_replay_node_count(r);
	st->nodes = calloc(st->nnodes ? st->nnodes : 1, sizeof(*st->nodes));
	st->sym = hl_symbolizer_new();
	if (!st->nodes || !st->sym)
		goto nomem;
	for (size_t i = 0; i < hl_replay_module_count(r); i++) {
		int ret = hl_symbolizer_add_module(st->sym, &hl_replay_module(r, i)->mod);
		if (ret && ret != -EEXIST) /* ids are never reused; ignore a broken trace's */
			goto nomem;
	}
	return st;
nomem:
	hl_stacks_free(st);
	return NULL;
}

void hl_stacks_free(struct hl_stacks *st)
{
	if (!st)
		return;
	hl_symbolizer_destroy(st->sym);
	free(st->nodes);
	free(st);
}

struct hl_symbolizer *hl_stacks_symbolizer(struct hl_stacks *st)
{
	return st->sym;
}

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

bool hl_stacks_own_module(const char *path)
{
	static const char *const system_dirs[] = {"/lib/", "/usr/lib/", "/lib64/", "/usr/lib64/"};
	const char *base;

	if (!path || !path[0] || path[0] == '[') /* "[vdso]" and the like */
		return false;
	for (size_t i = 0; i < sizeof(system_dirs) / sizeof(system_dirs[0]); i++)
		if (has_prefix(path, system_dirs[i]))
			return false;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return !has_prefix(base, "linux-vdso") && !has_prefix(base, "linux-gate") &&
	       !has_prefix(base, "libheapline");
}

int hl_stacks_node_frames(struct hl_stacks *st, uint64_t node, const struct hl_frame **frames,
			  bool *own)
{
	struct node_frames *nf;
	uint64_t ip;

	if (node >= st->nnodes || hl_replay_node(st->r, node, NULL, &ip))
		return -ENOENT;
	nf = &st->nodes[node];
	if (!nf->f) {
		const struct hl_replay_module *m = hl_replay_module_of(st->r, node, ip);
		int n =
		    hl_symbolizer_resolve(st->sym, m ? m->mod.id : HL_SYM_NO_MODULE, ip, &nf->f);
		if (n < 0) {
			nf->f = NULL;
			return n;
		}
		nf->n = n;
		nf->own = hl_stacks_own_module(nf->f[0].module);
	}
	*frames = nf->f;
	if (own)
		*own = nf->own;
	return nf->n;
}

/* Code from the system's headers (a C++ std:: template instantiated in the
 * program, a glibc inline) is not the program's own, wherever it landed. */
static bool system_header(const char *file)
{
	return file && (has_prefix(file, "/usr/include/") || has_prefix(file, "/usr/lib/gcc/") ||
			has_prefix(file, "/usr/local/include/"));
}

int hl_stacks_walk(struct hl_stacks *st, uint64_t node,
		   int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx)
{
	for (int steps = 0; node != 0 && steps < MAX_WALK; steps++) {
		const struct hl_frame *f;
		uint64_t parent;
		bool own;
		int n = hl_stacks_node_frames(st, node, &f, &own);

		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			int ret = cb(ctx, &f[i], own && !system_header(f[i].file));
			if (ret)
				return ret;
		}
		hl_replay_node(st->r, node, &parent, NULL);
		if (parent >= node) /* parents come first; anything else is a loop */
			break;
		node = parent;
	}
	return 0;
}

static const char *basename_of(const char *path)
{
	const char *b = path ? strrchr(path, '/') : NULL;

	return b ? b + 1 : path ? path : "??";
}

void hl_frame_print(FILE *f, const struct hl_frame *fr)
{
	char buf[4096];

	if (fr->function && fr->file) {
		fprintf(f, "%s %s:%u", fr->function, hl_fmt_path(buf, sizeof(buf), fr->file),
			fr->line);
	} else if (fr->file) {
		fprintf(f, "?? %s:%u", hl_fmt_path(buf, sizeof(buf), fr->file), fr->line);
	} else if (fr->function) {
		fprintf(f, "%s (%s+0x%" PRIx64 ")", fr->function, basename_of(fr->module),
			fr->offset);
	} else {
		fprintf(f, "%s+0x%" PRIx64, basename_of(fr->module), fr->offset);
	}
}

void hl_frame_json(struct hl_json *j, const struct hl_frame *fr)
{
	hl_json_begin_object(j);
	hl_json_kv_string(j, "function", fr->function);
	hl_json_kv_string(j, "file", fr->file);
	if (fr->line)
		hl_json_kv_uint(j, "line", fr->line);
	else
		hl_json_kv_null(j, "line");
	hl_json_kv_string(j, "module", fr->module);
	hl_json_kv_uint(j, "offset", fr->offset);
	hl_json_kv_bool(j, "inlined", fr->inlined);
	hl_json_end_object(j);
}
