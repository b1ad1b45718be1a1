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
	/* bit i: frame i's source is a system header (frames past 64 are
	 * checked on each walk) */
	uint64_t sys_header;
	/* whether the node's module is the program's own: 0 not known yet,
	 * 1 own, 2 not; known without symbolizing */
	uint8_t module_own;
	/* whether it is the C library's start-up code (below_main): 0 not
	 * known yet, 1 yes, 2 no */
	uint8_t below_main;
	/* the replay module that held its return address: index + 1, 0 not
	 * known yet, -1 none */
	int32_t mod;
};

/* hl_stacks_system_frame of frames with a source file, by the file's
 * (interned) name: a few hundred files answer for millions of frames. */
#define SYS_MEMO 1024
struct sys_memo {
	const char *file;
	bool sys;
};

struct hl_stacks {
	const struct hl_replay *r;
	struct hl_symbolizer *sym;
	struct node_frames *nodes;
	uint64_t nnodes;
	uint8_t *mod_own; /* per replay module: 0 not known yet, 1 own, 2 not */
	const char *exe;  /* the traced executable's path (INFO), or NULL */
	struct sys_memo sys_memo[SYS_MEMO];
};

struct hl_stacks *hl_stacks_new(const struct hl_replay *r)
{
	return hl_stacks_new_with(r, NULL);
}

struct hl_stacks *hl_stacks_new_with(const struct hl_replay *r, struct hl_symbolizer *sym)
{
	struct hl_stacks *st = calloc(1, sizeof(*st));

	if (!st) {
		hl_symbolizer_destroy(sym);
		return NULL;
	}
	st->r = r;
	st->exe = hl_replay_info(r) ? hl_replay_info(r)->exe : NULL;
	st->nnodes = hl_replay_node_count(r);
	st->nodes = calloc(st->nnodes ? st->nnodes : 1, sizeof(*st->nodes));
	st->sym = sym ? sym : hl_symbolizer_new();
	st->mod_own = calloc(hl_replay_module_count(r) + 1, 1);
	if (!st->nodes || !st->sym || !st->mod_own)
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
	free(st->mod_own);
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

bool hl_frame_below_main(const struct hl_frame *f)
{
	return hl_stacks_below_main_name(f->function) && !hl_stacks_own_module(f->module);
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

bool hl_stacks_own_path(const char *exe, const char *path)
{
	return (exe && path && !strcmp(path, exe)) || hl_stacks_own_module(path);
}

bool hl_stacks_system_frame(const struct hl_frame *f)
{
	static const char *const dirs[] = {"/usr/include/", "/usr/lib/gcc/",
					   "/usr/local/include/", "/rustc/",
					   "/rust/deps/", "/usr/src/rustc-"};
	static const char *const names[] = {"std::", "core::", "alloc::", "__gnu_cxx::"};
	const char *name = f->function;

	for (size_t i = 0; f->file && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (has_prefix(f->file, dirs[i]))
			return true;
	if (f->file || !name)
		return false;
	if (name[0] == '<')
		name++;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (has_prefix(name, names[i]))
			return true;
	return false;
}

static bool frame_system(struct hl_stacks *st, const struct hl_frame *f)
{
	if (!f->file)
		return hl_stacks_system_frame(f);
	struct sys_memo *e = &st->sys_memo[((uintptr_t)f->file >> 4) % SYS_MEMO];
	if (e->file != f->file) {
		e->file = f->file;
		e->sys = hl_stacks_system_frame(f);
	}
	return e->sys;
}

/* The module that held node's return address ip when the node was
 * recorded (NULL outside every module), looked up once per node; and,
 * with it, whether that module is the program's own (once per module). */
static const struct hl_replay_module *node_module(struct hl_stacks *st, uint64_t node,
						  uint64_t ip)
{
	struct node_frames *nf = &st->nodes[node];

	if (!nf->mod) {
		const struct hl_replay_module *m = hl_replay_module_of(st->r, node, ip);
		if (!m) {
			nf->mod = -1;
			nf->module_own = 2;
		} else {
			size_t i = (size_t)(m - hl_replay_module(st->r, 0));
			if (!st->mod_own[i])
				st->mod_own[i] = hl_stacks_own_path(st->exe, m->mod.path) ? 1 : 2;
			nf->mod = (int32_t)i + 1;
			nf->module_own = st->mod_own[i];
		}
	}
	return nf->mod > 0 ? hl_replay_module(st->r, (size_t)nf->mod - 1) : NULL;
}

/* Whether node's return address lies in a module of the program's own
 * code, from the trace's module records alone: nothing is symbolized. */
static bool node_module_own(struct hl_stacks *st, uint64_t node)
{
	struct node_frames *nf = &st->nodes[node];
	uint64_t ip;

	if (!nf->module_own) {
		hl_replay_node(st->r, node, NULL, &ip);
		node_module(st, node, ip);
	}
	return nf->module_own == 1;
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
		const struct hl_replay_module *m = node_module(st, node, ip);
		int n =
		    hl_symbolizer_resolve(st->sym, m ? m->mod.id : HL_SYM_NO_MODULE, ip, &nf->f);
		if (n < 0) {
			nf->f = NULL;
			return n;
		}
		nf->n = n;
		/* the module's path is the one the symbolizer names */
		nf->own = nf->module_own == 1;
		nf->sys_header = 0;
		for (int i = 0; i < n && i < 64; i++)
			if (frame_system(st, &nf->f[i]))
				nf->sys_header |= 1ull << i;
	}
	*frames = nf->f;
	if (own)
		*own = nf->own;
	return nf->n;
}

static inline bool frame_own(const struct node_frames *nf, int i)
{
	return nf->own &&
	       !(i < 64 ? (nf->sys_header >> i) & 1 : hl_stacks_system_frame(&nf->f[i]));
}

/* The frames of one node to cb, from frame `from` on. */
static int visit_node(struct hl_stacks *st, uint64_t node, int from,
		      int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx)
{
	const struct hl_frame *f;
	int n = hl_stacks_node_frames(st, node, &f, NULL);

	if (n < 0)
		return n;
	for (int i = from; i < n; i++) {
		int ret = cb(ctx, &f[i], frame_own(&st->nodes[node], i));
		if (ret)
			return ret;
	}
	return 0;
}

/* The next node outwards, 0 at the end (or at a loop, only in a broken
 * trace: parents come first). */
static uint64_t parent_of(const struct hl_stacks *st, uint64_t node)
{
	uint64_t parent;

	hl_replay_node(st->r, node, &parent, NULL);
	return parent < node ? parent : 0;
}

uint64_t hl_stacks_node_count(const struct hl_stacks *st)
{
	return st->nnodes;
}

uint64_t hl_stacks_parent(const struct hl_stacks *st, uint64_t node)
{
	return node < st->nnodes ? parent_of(st, node) : 0;
}

int hl_stacks_node_walk(struct hl_stacks *st, uint64_t node, unsigned flags,
			int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx)
{
	if (node == 0 || node >= st->nnodes)
		return node ? -ENOENT : 0;
	if ((flags & HL_WALK_OWN_MODULES) && !node_module_own(st, node))
		return 0;
	return visit_node(st, node, 0, cb, ctx);
}

int hl_stacks_walk_flags(struct hl_stacks *st, uint64_t node, unsigned flags,
			 int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx)
{
	for (int steps = 0; node != 0 && node < st->nnodes && steps < MAX_WALK; steps++) {
		int ret = hl_stacks_node_walk(st, node, flags, cb, ctx);
		if (ret)
			return ret;
		node = parent_of(st, node);
	}
	if (node >= st->nnodes && node != 0)
		return -ENOENT;
	return 0;
}

int hl_stacks_walk(struct hl_stacks *st, uint64_t node,
		   int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx)
{
	return hl_stacks_walk_flags(st, node, 0, cb, ctx);
}

static bool is_main(const struct hl_frame *f)
{
	return f->function && !strcmp(f->function, "main");
}

/* The C library's start-up code, which calls main and the constructors:
 * the names valgrind's --show-below-main=no stops at, and glibc's own. */
bool hl_stacks_below_main_name(const char *name)
{
	static const char *const prefixes[] = {
	    "__libc_start_main", /* _impl, @@GLIBC_2.34, .isra.0 ... */
	    "__libc_start_call_main",
	    "generic_start_main",
	};
	static const char *const names[] = {"_dl_start_user", "_dl_init", "call_init"};

	if (!name)
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (has_prefix(name, prefixes[i]))
			return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

/* Whether node's return address is in the C library's start-up code (in a
 * module not the program's own, a function hl_stacks_below_main_name
 * names), from the ELF symbol table only: main is not always on the stack
 * to stop at (a stripped program, a main that tail-calls), and resolving
 * libc's start-up frames through DWARF inflated all of its debug sections
 * (bench/report.sh case f: a fifth of the report's time, case d: 6%). */
static bool node_below_main(struct hl_stacks *st, uint64_t node)
{
	struct node_frames *nf = &st->nodes[node];

	if (!nf->below_main) {
		const struct hl_replay_module *m;
		uint64_t ip;

		nf->below_main = 2;
		hl_replay_node(st->r, node, NULL, &ip);
		m = node_module(st, node, ip);
		if (m && !node_module_own(st, node) &&
		    hl_stacks_below_main_name(hl_symbolizer_symbol(st->sym, m->mod.id, ip)))
			nf->below_main = 1;
	}
	return nf->below_main == 1;
}

int hl_stacks_walk_from_own(struct hl_stacks *st, uint64_t node,
			    int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx)
{
	uint64_t start = node;
	int from = 0;

	/* Find the innermost own frame; only own modules need symbols for
	 * that.  The search ends at main, as the views' stacks do. */
	for (int steps = 0; node != 0 && node < st->nnodes && steps < MAX_WALK; steps++) {
		if (node_module_own(st, node)) {
			const struct hl_frame *f;
			int n = hl_stacks_node_frames(st, node, &f, NULL);
			if (n < 0)
				return n;
			for (int i = 0; i < n; i++) {
				if (frame_own(&st->nodes[node], i)) {
					start = node;
					from = i;
					goto found;
				}
				if (is_main(&f[i]))
					goto found; /* none: from the innermost */
			}
		}
		node = parent_of(st, node);
	}
found:
	for (int steps = 0; start != 0 && start < st->nnodes && steps < MAX_WALK; steps++) {
		if (steps && node_below_main(st, start))
			break; /* main's callers: the views' stacks end at main */
		int ret = visit_node(st, start, from, cb, ctx);
		if (ret)
			return ret;
		from = 0;
		start = parent_of(st, start);
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
