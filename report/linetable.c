/* linetable.c — memory_profiler's line-by-line table for chosen functions
 * (linetable.h).  Exports hl_linetables_*.
 *
 * Every number of a line is a sum (Mem usage: a maximum) over events, and
 * every event of a stack node passes through the same lines, so the table
 * is built from the aggregator's per-node sums: two walks over the stacks
 * of the nodes with activity (one to rank functions, one to fill lines),
 * never over the events.  A line is counted once per node, which is once
 * per event, however often recursion puts it on the stack.
 *
 * Output follows memory_profiler's show_results(): rows are
 * '{:>6} {:>12} {:>12}  {:>10}   {}'.format(line, mem, inc, occurrences,
 * text), sizes '{:<precision+4>.<precision>f} MiB', blank columns for lines
 * where nothing happened, the source text as it is in the file (tabs
 * expanded: memory_profiler's Python sources have none). */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "linetable.h"

#define MAX_LINES 100000 /* a function longer than this is cut (bad DWARF) */

struct row {
	int64_t inc;
	uint64_t mem, occ, frees, leaked, peak;
	uint32_t on_path; /* tree_walk: nodes on the current path naming this line */
	uint32_t stamp;	  /* the last node (id + 1) that counted it */
};

struct table {
	const struct hl_sym_func *func; /* the key */
	struct hl_func_lines fl;
	uint64_t bytes, self; /* bytes allocated inclusive, and as innermost own function */
	size_t order;
	struct row *rows; /* one per line fl.first .. fl.last */
	char **text;	  /* likewise; NULL where the file has no such line */
	char *source;	  /* the file the text came from, NULL if none */
	UT_hash_handle hh;
};

/* A function seen on some stack with activity. */
struct func_act {
	const struct hl_sym_func *func; /* the key */
	const char *name, *file;	/* from a frame: file is a line's, a hint */
	uint64_t bytes, self, events;
	bool own;
	size_t order;
	uint32_t on_path, stamp; /* as in struct row */
	UT_hash_handle hh;
};

struct hl_linetables {
	struct table *hash; /* by function */
	struct table **v;   /* in print order */
	size_t n, cap;
	const char *reason; /* why there is no table, when n == 0 */
};

/* ---- helpers --------------------------------------------------------------- */

/* fnmatch, where a relative glob may also match from any directory
 * boundary: "examples/lists.c" and "*.c" match "/src/examples/lists.c". */
static bool path_matches(const char *glob, const char *path)
{
	char *anywhere;
	bool ok;

	if (!path)
		return false;
	if (fnmatch(glob, path, 0) == 0)
		return true;
	if (glob[0] == '/' || asprintf(&anywhere, "*/%s", glob) < 0)
		return false;
	ok = fnmatch(anywhere, path, 0) == 0;
	free(anywhere);
	return ok;
}

static bool same_file(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* ---- the stack tree ----------------------------------------------------------
 *
 * Both passes below want, for each function (for each line of a chosen
 * function), the sums over the stacks with activity that pass through it,
 * each stack counted once however often recursion puts the function on it.
 * Walking every such stack from its leaf did that in stacks x depth
 * symbolized frames and hash lookups (python: 24k stacks of ~40 frames, a
 * quarter of `heapline report`).  Instead the stack tree is walked once,
 * depth first, with each node's sums over its subtree: a node adds them to
 * what its frames name unless a node above it on the path named the same
 * (a count per function, per line, of such nodes on the path), which
 * counts every stack through it exactly once. */

struct tree {
	struct hl_stacks *st;
	unsigned walk; /* hl_stacks_walk_flags's flags */
	uint64_t n;
	struct hl_node_stats *incl; /* per node: its subtree's sums */
	uint32_t *first, *next;	    /* children, ascending; 0 = none */
};

static void tree_free(struct tree *t)
{
	free(t->incl);
	free(t->first);
	free(t->next);
}

static int tree_build(struct tree *t, struct hl_stacks *st, const struct hl_agg *a, unsigned walk)
{
	t->st = st;
	t->walk = walk;
	t->n = hl_stacks_node_count(st);
	t->incl = calloc(t->n ? t->n : 1, sizeof(*t->incl));
	t->first = calloc(t->n ? t->n : 1, sizeof(*t->first));
	t->next = calloc(t->n ? t->n : 1, sizeof(*t->next));
	if (!t->incl || !t->first || !t->next || t->n > UINT32_MAX)
		return -ENOMEM;
	for (size_t i = 0; i < hl_agg_count(a); i++) {
		uint64_t id = hl_agg_node_id(a, i);

		if (id < t->n)
			hl_node_stats_add(&t->incl[id], hl_agg_stats(a, i));
	}
	/* Parents have smaller ids: children first, then their parent. */
	for (uint64_t id = t->n; id-- > 1;) {
		uint64_t p = hl_stacks_parent(st, id);

		hl_node_stats_add(&t->incl[p], &t->incl[id]);
		t->next[id] = t->first[p];
		t->first[p] = (uint32_t)id;
	}
	return 0;
}

/* A pass over the tree: frame() for each frame of each node entered, with
 * node and x (its subtree's sums) set; path_mark() keeps the counts. */
struct pass {
	int (*frame)(void *ctx, const struct hl_frame *f, bool own);
	void *ctx;
	uint64_t node;
	const struct hl_node_stats *x;
	uint32_t **undo; /* the counts path_mark raised, to lower on leaving */
	size_t nundo, cap;
};

/* A function or line named by the node being entered (stamp and on_path
 * are its own): 1 if no node above it on the path named it, so the subtree's
 * sums are its to add; 0 if one did, or this node named it already; or
 * -ENOMEM. */
static int path_mark(struct pass *ps, uint32_t *stamp, uint32_t *on_path)
{
	if (*stamp == ps->node + 1)
		return 0; /* named twice in this node (inlined into itself) */
	if (ps->nundo == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 256;
		uint32_t **v = realloc(ps->undo, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ps->undo = v;
		ps->cap = cap;
	}
	*stamp = (uint32_t)(ps->node + 1);
	ps->undo[ps->nundo++] = on_path;
	return (*on_path)++ == 0;
}

/* Depth first over the nodes whose subtree had activity, parents before
 * children; a node's frames as hl_stacks_walk_flags gives them. */
static int tree_walk(const struct tree *t, struct pass *ps)
{
	struct level {
		uint32_t node, child;
		size_t undo;
	} *path = NULL;
	size_t depth = 0, cap = 64;
	int ret = 0;

	if (!t->n)
		return 0;
	if (!(path = malloc(cap * sizeof(*path))))
		return -ENOMEM;
	path[depth++] = (struct level){0, t->first[0], 0};
	while (depth && !ret) {
		struct level *l = &path[depth - 1];
		uint32_t c = l->child;

		if (!c) { /* leaving l->node: its names are off the path */
			while (ps->nundo > l->undo)
				(*ps->undo[--ps->nundo])--;
			depth--;
			continue;
		}
		l->child = t->next[c];
		if (!t->incl[c].allocs && !t->incl[c].frees)
			continue; /* nothing happened below: nothing to count */
		if (depth == cap) {
			struct level *v = realloc(path, (cap *= 2) * sizeof(*v));
			if (!v) {
				ret = -ENOMEM;
				break;
			}
			path = v;
		}
		path[depth++] = (struct level){c, t->first[c], ps->nundo};
		ps->node = c;
		ps->x = &t->incl[c];
		ret = hl_stacks_node_walk(t->st, c, t->walk, ps->frame, ps);
	}
	free(path);
	free(ps->undo);
	return ret;
}

/* ---- ranking functions ----------------------------------------------------- */

struct rank {
	struct func_act **hash;
	size_t count;
};

static struct func_act *act_of(struct func_act **hash, const struct hl_frame *f, size_t *count)
{
	struct func_act *fa;

	HASH_FIND_PTR(*hash, &f->func, fa);
	if (fa)
		return fa;
	fa = calloc(1, sizeof(*fa));
	if (!fa)
		return NULL;
	fa->func = f->func;
	fa->name = f->function;
	fa->file = f->file;
	fa->order = (*count)++;
	HASH_ADD_PTR(*hash, func, fa);
	if (!fa->hh.tbl) {
		free(fa);
		return NULL;
	}
	return fa;
}

static int rank_frame(void *ctx, const struct hl_frame *f, bool own)
{
	struct pass *ps = ctx;
	struct rank *rk = ps->ctx;
	struct func_act *fa;
	int first;

	if (!f->func)
		return 0;
	if (!(fa = act_of(rk->hash, f, &rk->count)))
		return -ENOMEM;
	fa->own |= own;
	if ((first = path_mark(ps, &fa->stamp, &fa->on_path)) > 0) {
		fa->bytes += ps->x->alloc_bytes;
		fa->events += ps->x->allocs + ps->x->frees;
	}
	return first < 0 ? first : 0;
}

/* self: the innermost own frame of each stack, named or not. */
struct self_walk {
	struct rank *rk;
	uint64_t bytes;
};

static int self_frame(void *ctx, const struct hl_frame *f, bool own)
{
	struct self_walk *w = ctx;
	struct func_act *fa;

	if (!own)
		return 0;
	if (f->func) {
		if (!(fa = act_of(w->rk->hash, f, &w->rk->count)))
			return -ENOMEM;
		fa->self += w->bytes;
	}
	return 1; /* found: stop */
}

static int rank_functions(struct func_act **hash, struct hl_stacks *st, const struct hl_agg *a,
			  const struct tree *t)
{
	struct rank rk = {.hash = hash};
	struct pass ps = {.frame = rank_frame, .ctx = &rk};
	int ret = tree_walk(t, &ps);

	for (size_t i = 0; i < hl_agg_count(a) && !ret; i++) {
		struct self_walk w = {.rk = &rk, .bytes = hl_agg_stats(a, i)->alloc_bytes};

		if (!w.bytes)
			continue;
		ret = hl_stacks_walk_flags(st, hl_agg_node_id(a, i), t->walk, self_frame, &w);
		if (ret == 1)
			ret = 0;
	}
	return ret;
}

/* ---- tables ------------------------------------------------------------------ */

static void table_free(struct table *t)
{
	if (!t)
		return;
	if (t->text)
		for (unsigned l = t->fl.first; l <= t->fl.last; l++)
			free(t->text[l - t->fl.first]);
	free(t->text);
	free(t->rows);
	free(t->source);
	free(t);
}

static int add_table(struct hl_linetables *lt, struct hl_symbolizer *sym,
		     const struct hl_sym_func *func, const struct func_act *fa)
{
	struct table *t;

	HASH_FIND_PTR(lt->hash, &func, t);
	if (t)
		return 0;
	if (lt->n == lt->cap) {
		size_t cap = lt->cap ? lt->cap * 2 : 8;
		struct table **v = realloc(lt->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		lt->v = v;
		lt->cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->func = func;
	hl_symbolizer_function_lines(sym, func, &t->fl);
	if (t->fl.first == 0)
		t->fl.first = 1;
	if (t->fl.last < t->fl.first)
		t->fl.last = t->fl.first;
	if (t->fl.last - t->fl.first >= MAX_LINES)
		t->fl.last = t->fl.first + MAX_LINES - 1;
	t->rows = calloc(t->fl.last - t->fl.first + 1, sizeof(*t->rows));
	if (!t->rows) {
		free(t);
		return -ENOMEM;
	}
	if (fa) {
		t->bytes = fa->bytes;
		t->self = fa->self;
	}
	t->order = lt->n;
	HASH_ADD_PTR(lt->hash, func, t);
	if (!t->hh.tbl) {
		table_free(t);
		return -ENOMEM;
	}
	lt->v[lt->n++] = t;
	return 0;
}

/* Most bytes first; the function doing the allocating before its callers
 * (who include its bytes); then by name. */
static int cmp_bytes(const void *pa, const void *pb)
{
	const struct table *a = *(struct table *const *)pa, *b = *(struct table *const *)pb;
	int c;

	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	if (a->self != b->self)
		return a->self > b->self ? -1 : 1;
	c = strcmp(a->fl.name ? a->fl.name : "", b->fl.name ? b->fl.name : "");
	return c ? c : (a->order > b->order) - (a->order < b->order);
}

static int cmp_position(const void *pa, const void *pb)
{
	const struct table *a = *(struct table *const *)pa, *b = *(struct table *const *)pb;
	int c = strcmp(a->fl.file ? a->fl.file : "", b->fl.file ? b->fl.file : "");

	if (c)
		return c;
	if (a->fl.first != b->fl.first)
		return a->fl.first < b->fl.first ? -1 : 1;
	return cmp_bytes(pa, pb);
}

struct found {
	struct hl_linetables *lt;
	struct hl_symbolizer *sym;
	int n;
};

static int found_function(void *ctx, const struct hl_sym_func *f)
{
	struct found *fd = ctx;
	int ret = add_table(fd->lt, fd->sym, f, NULL);

	fd->n++;
	return ret;
}

/* Whether the function is defined in a file matching the glob.  The
 * definition's file costs a walk of its compilation unit, so a function
 * none of whose frames' files match is not asked (a frame's file is the
 * definition's but for code #included into a function body). */
static bool act_in_file(struct hl_symbolizer *sym, const struct func_act *fa, const char *file)
{
	struct hl_func_lines fl;

	if (!file)
		return true;
	if (!path_matches(file, fa->file))
		return false;
	hl_symbolizer_function_lines(sym, fa->func, &fl);
	return path_matches(file, fl.file);
}

static int select_functions(struct hl_linetables *lt, struct hl_symbolizer *sym,
			    struct func_act *acts, const struct hl_linetable_opts *o)
{
	struct func_act *fa, *tmp;
	int ret;

	if (o->nfunctions) {
		for (size_t g = 0; g < o->nfunctions; g++) {
			int n = 0;
			HASH_ITER(hh, acts, fa, tmp)
			{
				if (!fa->name || fnmatch(o->functions[g], fa->name, 0) ||
				    !act_in_file(sym, fa, o->file))
					continue;
				if ((ret = add_table(lt, sym, fa->func, fa)))
					return ret;
				n++;
			}
			if (n)
				continue;
			/* No allocation passed through it: still show its
			 * (empty) table if the debug information has it. */
			struct found fd = {.lt = lt, .sym = sym};
			ret = hl_symbolizer_find_functions(sym, o->functions[g], o->file,
							   found_function, &fd);
			if (ret)
				return ret;
			if (!fd.n)
				fprintf(stderr, "heapline: no function matches '%s'%s%s\n",
					o->functions[g], o->file ? " in " : "",
					o->file ? o->file : "");
		}
		qsort(lt->v, lt->n, sizeof(*lt->v), cmp_bytes);
		if (!lt->n)
			lt->reason = "no function matches --function";
		return 0;
	}
	if (o->file) {
		HASH_ITER(hh, acts, fa, tmp)
		{
			if (fa->events && act_in_file(sym, fa, o->file) &&
			    (ret = add_table(lt, sym, fa->func, fa)))
				return ret;
		}
		qsort(lt->v, lt->n, sizeof(*lt->v), cmp_position);
		if (!lt->n) {
			fprintf(stderr,
				"heapline: no function defined in '%s' allocated or freed memory\n",
				o->file);
			lt->reason = "no function of --file allocated or freed memory";
		}
		return 0;
	}
	/* The default: the own functions that allocated most, inclusive. */
	size_t n = 0, cap = HASH_COUNT(acts);
	struct table **cand = calloc(cap ? cap : 1, sizeof(*cand));
	struct table *keys = calloc(cap ? cap : 1, sizeof(*keys));
	if (!cand || !keys) {
		free(cand);
		free(keys);
		return -ENOMEM;
	}
	HASH_ITER(hh, acts, fa, tmp)
	{
		if (!fa->own || !fa->bytes)
			continue;
		/* cmp_bytes wants tables: fill just what it reads */
		keys[n].func = fa->func;
		keys[n].bytes = fa->bytes;
		keys[n].self = fa->self;
		keys[n].order = fa->order;
		keys[n].fl.name = fa->name;
		cand[n] = &keys[n];
		n++;
	}
	qsort(cand, n, sizeof(*cand), cmp_bytes);
	ret = 0;
	for (size_t i = 0; i < n && i < o->ntop && !ret; i++) {
		HASH_FIND_PTR(acts, &cand[i]->func, fa);
		ret = add_table(lt, sym, cand[i]->func, fa);
	}
	free(cand);
	free(keys);
	if (!ret && !lt->n)
		lt->reason = "no function of the program's own code with debug information "
			     "allocated memory (build with -g for line tables)";
	return ret;
}

/* ---- filling the lines ----------------------------------------------------- */

static int row_frame(void *ctx, const struct hl_frame *f, bool own)
{
	struct pass *ps = ctx;
	struct hl_linetables *lt = ps->ctx;
	const struct hl_node_stats *x = ps->x;
	struct table *t;
	struct row *r;
	int first;

	(void)own;
	if (!f->func)
		return 0;
	HASH_FIND_PTR(lt->hash, &f->func, t);
	if (!t || f->line < t->fl.first || f->line > t->fl.last || !same_file(f->file, t->fl.file))
		return 0;
	r = &t->rows[f->line - t->fl.first];
	if ((first = path_mark(ps, &r->stamp, &r->on_path)) > 0) {
		r->inc += (int64_t)(x->alloc_bytes - x->free_bytes);
		r->occ += x->allocs + x->frees;
		if (x->max_live > r->mem)
			r->mem = x->max_live;
		r->frees += x->frees;
		r->leaked += x->leaked_bytes;
		r->peak += x->peak_bytes;
	}
	return first < 0 ? first : 0;
}

static int fill_rows(struct hl_linetables *lt, const struct tree *t)
{
	struct pass ps = {.frame = row_frame, .ctx = lt};

	return lt->n ? tree_walk(t, &ps) : 0;
}

/* ---- source text --------------------------------------------------------------- */

static bool is_file(const char *p)
{
	struct stat st;

	/* Regular files only: a FIFO named by a hostile trace would hang. */
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The file to read for a DWARF path: under dir, the path's longest suffix
 * that exists there (dir/src/x.c for /home/me/src/x.c), else the path. */
static char *find_source(const char *path, const char *dir)
{
	char *p;

	if (dir) {
		for (const char *s = path; s; s = strchr(s + 1, '/')) {
			const char *suffix = s + (*s == '/');
			if (!*suffix || asprintf(&p, "%s/%s", dir, suffix) < 0)
				continue;
			if (is_file(p))
				return p;
			free(p);
		}
	}
	return is_file(path) ? strdup(path) : NULL;
}

static void load_source(struct table *t, const char *dir)
{
	unsigned nlines = t->fl.last - t->fl.first + 1, line = 0;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;

	if (!t->fl.file || !(t->source = find_source(t->fl.file, dir)))
		return;
	if (!(f = fopen(t->source, "r")) || !(t->text = calloc(nlines, sizeof(*t->text)))) {
		if (f)
			fclose(f);
		free(t->source);
		t->source = NULL;
		return;
	}
	while (++line <= t->fl.last && (len = getline(&buf, &cap, f)) >= 0) {
		if (line < t->fl.first)
			continue;
		if (len && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (len && buf[len - 1] == '\r')
			buf[--len] = '\0';
		t->text[line - t->fl.first] = strdup(buf);
	}
	free(buf);
	fclose(f);
}

/* ---- the stage ---------------------------------------------------------------- */

int hl_linetables_build(struct hl_linetables **out, struct hl_stacks *st, const struct hl_agg *a,
			const struct hl_linetable_opts *o)
{
	struct hl_symbolizer *sym = hl_stacks_symbolizer(st);
	struct hl_linetables *lt = calloc(1, sizeof(*lt));
	struct func_act *acts = NULL, *fa, *tmp;
	/* The default picks own functions only: frames of other modules
	 * count for nothing there and need not be symbolized. */
	unsigned walk = o->nfunctions || o->file ? 0 : HL_WALK_OWN_MODULES;
	int ret;

	struct tree t = {0};

	if (!lt)
		return -ENOMEM;
	ret = tree_build(&t, st, a, walk);
	if (!ret)
		ret = rank_functions(&acts, st, a, &t);
	if (!ret)
		ret = select_functions(lt, sym, acts, o);
	if (!ret)
		ret = fill_rows(lt, &t);
	tree_free(&t);
	HASH_ITER(hh, acts, fa, tmp)
	{
		HASH_DEL(acts, fa);
		free(fa);
	}
	if (ret) {
		hl_linetables_free(lt);
		return ret;
	}
	for (size_t i = 0; i < lt->n; i++)
		load_source(lt->v[i], o->source_dir);
	*out = lt;
	return 0;
}

void hl_linetables_free(struct hl_linetables *lt)
{
	if (!lt)
		return;
	HASH_CLEAR(hh, lt->hash);
	for (size_t i = 0; i < lt->n; i++)
		table_free(lt->v[i]);
	free(lt->v);
	free(lt);
}

/* ---- printing ---------------------------------------------------------------- */

static uint64_t uabs(int64_t v)
{
	return v < 0 ? -(uint64_t)v : (uint64_t)v;
}

/* One unit for a whole table, so its columns line up. */
static enum hl_unit table_unit(const struct table *t, enum hl_unit unit, unsigned columns)
{
	uint64_t m = 0;

	if (unit != HL_UNIT_AUTO)
		return unit;
	for (unsigned l = t->fl.first; l <= t->fl.last; l++) {
		const struct row *r = &t->rows[l - t->fl.first];
		if (!r->occ)
			continue;
		m = r->mem > m ? r->mem : m;
		m = uabs(r->inc) > m ? uabs(r->inc) : m;
		if (columns & HL_COL_LEAKED)
			m = r->leaked > m ? r->leaked : m;
		if (columns & HL_COL_PEAK)
			m = r->peak > m ? r->peak : m;
	}
	return hl_unit_pick(HL_UNIT_AUTO, m);
}

/* The source text, tabs expanded to 8-column stops counted from the
 * text's start: raw tabs after the 47 columns of numbers would jump to the
 * terminal's stops and scramble the indentation. */
static void put_text(FILE *f, const char *text)
{
	unsigned col = 0;

	for (; *text; text++) {
		if (*text == '\t') {
			do
				fputc(' ', f);
			while (++col % 8);
		} else {
			fputc(*text, f);
			/* UTF-8 continuation bytes take no column */
			col += ((unsigned char)*text & 0xc0) != 0x80;
		}
	}
	fputc('\n', f);
}

static void print_table(FILE *f, const struct table *t, unsigned columns, enum hl_unit unit,
			int precision)
{
	char header[256], path[4096], a[64], b[64], c[64];
	int n;

	unit = table_unit(t, unit, columns);
	fprintf(f, "Filename: %s\n", hl_fmt_path(path, sizeof(path), t->fl.file));
	fprintf(f, "Function: %s\n\n", t->fl.name ? t->fl.name : "??");
	n = snprintf(header, sizeof(header), "%6s %12s %12s  %10s", "Line #", "Mem usage",
		     "Increment", "Occurrences");
	if (columns & HL_COL_LEAKED)
		n += snprintf(header + n, sizeof(header) - n, "  %12s", "Leaked");
	if (columns & HL_COL_PEAK)
		n += snprintf(header + n, sizeof(header) - n, "  %12s", "At peak");
	if (columns & HL_COL_FREES)
		n += snprintf(header + n, sizeof(header) - n, "  %10s", "Frees");
	n += snprintf(header + n, sizeof(header) - n, "   %s", "Line Contents");
	fprintf(f, "%s\n", header);
	for (int i = 0; i < n; i++)
		fputc('=', f);
	fputc('\n', f);

	for (unsigned l = t->fl.first; l <= t->fl.last; l++) {
		const struct row *r = &t->rows[l - t->fl.first];
		const char *text =
		    t->text && t->text[l - t->fl.first] ? t->text[l - t->fl.first] : "";

		if (!r->occ) {
			fprintf(f, "%6u %12s %12s  %10s", l, "", "", "");
			if (columns & HL_COL_LEAKED)
				fprintf(f, "  %12s", "");
			if (columns & HL_COL_PEAK)
				fprintf(f, "  %12s", "");
			if (columns & HL_COL_FREES)
				fprintf(f, "  %10s", "");
			fputs("   ", f);
			put_text(f, text);
			continue;
		}
		fprintf(f, "%6u %12s %12s  %10" PRIu64, l,
			hl_fmt_size(a, sizeof(a), (int64_t)r->mem, unit, precision),
			hl_fmt_size(b, sizeof(b), r->inc, unit, precision), r->occ);
		if (columns & HL_COL_LEAKED)
			fprintf(f, "  %12s",
				hl_fmt_size(c, sizeof(c), (int64_t)r->leaked, unit, precision));
		if (columns & HL_COL_PEAK)
			fprintf(f, "  %12s",
				hl_fmt_size(c, sizeof(c), (int64_t)r->peak, unit, precision));
		if (columns & HL_COL_FREES)
			fprintf(f, "  %10" PRIu64, r->frees);
		fputs("   ", f);
		put_text(f, text);
	}
}

void hl_linetables_print_text(FILE *f, const struct hl_linetables *lt, unsigned columns,
			      enum hl_unit unit, int precision)
{
	if (!lt->n) {
		hl_fmt_title(f, "Line-by-line tables");
		fprintf(f, "none: %s\n", lt->reason ? lt->reason : "nothing to show");
		return;
	}
	for (size_t i = 0; i < lt->n; i++) {
		if (i)
			fputc('\n', f);
		print_table(f, lt->v[i], columns, unit, precision);
	}
}

void hl_linetables_print_json(struct hl_json *j, const struct hl_linetables *lt, int with_peak)
{
	hl_json_begin_array(j);
	for (size_t i = 0; i < lt->n; i++) {
		const struct table *t = lt->v[i];

		hl_json_begin_object(j);
		hl_json_kv_string(j, "function", t->fl.name);
		hl_json_kv_string(j, "file", t->fl.file);
		hl_json_kv_string(j, "source", t->source);
		hl_json_kv_uint(j, "first_line", t->fl.first);
		hl_json_kv_uint(j, "last_line", t->fl.last);
		hl_json_kv_uint(j, "bytes_allocated", t->bytes);
		hl_json_key(j, "lines");
		hl_json_begin_array(j);
		for (unsigned l = t->fl.first; l <= t->fl.last; l++) {
			const struct row *r = &t->rows[l - t->fl.first];

			hl_json_begin_object(j);
			hl_json_kv_uint(j, "line", l);
			if (r->occ)
				hl_json_kv_uint(j, "mem_usage_bytes", r->mem);
			else
				hl_json_kv_null(j, "mem_usage_bytes");
			hl_json_kv_int(j, "increment_bytes", r->inc);
			hl_json_kv_uint(j, "occurrences", r->occ);
			hl_json_kv_uint(j, "frees", r->frees);
			hl_json_kv_uint(j, "leaked_bytes", r->leaked);
			if (with_peak)
				hl_json_kv_uint(j, "peak_bytes", r->peak);
			hl_json_kv_string(j, "text", t->text ? t->text[l - t->fl.first] : NULL);
			hl_json_end_object(j);
		}
		hl_json_end_array(j);
		hl_json_end_object(j);
	}
	hl_json_end_array(j);
}
