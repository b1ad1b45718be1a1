/* symbolize.c — stage 3 of the report pipeline: return address -> frames.
 * Exports the hl_symbolizer_* functions of symbolize.h.
 *
 * Each module gets its own libdwfl session (one Dwfl holding one module,
 * reported with dwfl_report_elf at the trace's load bias), opened at its
 * first lookup.  One session per module, rather than one for all, lets two
 * modules of the same trace occupy the same addresses at different times
 * (dlclose, then dlopen of another library).  libdwfl's standard callbacks
 * find separate debug files by build-id and .gnu_debuglink.
 *
 * For each (module, ip) the answer is computed once and cached; names and
 * paths are interned, so memory grows with distinct ips and symbols.
 *
 * Speed and memory.  libdw's own lookups scan: the symbol table per
 * address (dwfl_module_addrinfo), the compilation unit's DIE tree per
 * address (dwarf_getscopes), and libdw keeps every line table it reads at
 * full size.  So each module gets, on first need, an index of its symbol
 * table, and each compilation unit an index of its code DIEs and a compact
 * copy of its line table (symidx*.c).  They answer exactly as the libdw
 * calls they stand for, or defer to them: the old code paths stay, as the
 * fallback, and the answers do not change.
 *
 * Sessions outlive their symbolizer.  Opening a file costs: libdw
 * decompresses all of a file's compressed debug sections at once (libc's
 * separate debug file: 11 MB of zlib, ~50 ms).  `heapline report` of
 * several traces (gcc: the driver, cc1, as) symbolizes them one after the
 * other, each with a symbolizer of its own, and they all use libc.  So at
 * hl_symbolizer_destroy() sessions go to a small process-wide pool of idle
 * ones, where the next module of the same file (same path, device, inode,
 * size and mtime) takes one.  Two loads of a file differ only in where:
 * for an ET_DYN file libdwfl's bias is the base it was reported at, so a
 * session serves any bias by shifting addresses; others only their own.
 * A session serves one symbolizer at a time and the pool has a lock, so
 * symbolizers in different threads stay independent. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uthash.h>

#include "symbolize.h"
#include "symcache.h"
#include "symidx.h"
#include "trace_read.h"

#define MAX_INLINE_DEPTH 64  /* frames per ip; deeper inline chains are cut */
#define MAX_DIE_DEPTH	 256 /* DIE tree walks stop here on hostile input */
#define DEBUG_ROOT	 "/usr/lib/debug"
#define MAX_IDLE	 8 /* sessions kept for later symbolizers: the most used */

enum mod_state { MOD_UNOPENED, MOD_OPEN, MOD_NOFILE };

/* A compilation unit's indexes, made on first need; NULL after a try:
 * libdw the slow way. */
struct sym_cu {
	Dwarf_Off off; /* of the unit's DIE */
	UT_hash_handle hh;
	struct hl_scope_idx *scopes;
	struct hl_line_idx *lines;
	bool scopes_tried, lines_tried;
};

/* A libdwfl session holding one file, and what was learnt of it. */
struct sym_session {
	Dwfl *dwfl;
	Dwfl_Module *dm;
	char *name, *file;	      /* as reported: module name, file opened */
	struct stat st;		      /* of the file, for reuse */
	uint64_t base;		      /* as reported */
	bool any_base;		      /* ET_DYN, libdwfl's bias == base: serves any base */
	struct hl_symtab_idx *symtab; /* NULL: dwfl_module_addrinfo */
	bool symtab_tried;
	struct sym_cu *cus;	  /* by off */
	unsigned uses;		  /* modules it served: libc's many, a program's one */
	struct sym_session *next; /* in the pool */
};

struct sym_module {
	uint64_t id, bias, lo, hi;
	const char *path; /* interned */
	unsigned char *build_id;
	size_t build_id_len;
	bool loaded;  /* not unloaded yet */
	uint64_t seq; /* load order, for overlapping ranges */
	enum mod_state state;
	struct sym_session *ss; /* MOD_OPEN */
	Dwfl_Module *dm;	/* ss->dm */
	uint64_t shift;		/* bias - ss->base: ip - shift is the session's address */
	bool disk_tried;	/* the symbol cache on disk was looked at */
	bool resolved;		/* an address was resolved here, not taken from it */
	bool dwarf_used;	/* DWARF answered (worth caching) */
	UT_hash_handle hh;	/* by id */
};

struct istr {
	UT_hash_handle hh;
	const char *demangled; /* symbols only: set on first use */
	bool demangle_tried;
	char s[];
};

struct cache_key {
	uint64_t module_id, ip;
};

struct cache_entry {
	struct cache_key key;
	UT_hash_handle hh;
	int n;
	struct hl_frame frames[];
};

struct func_key {
	const char *name, *file; /* interned, so compared as pointers */
	unsigned first;
};

struct hl_sym_func {
	struct func_key key;
	UT_hash_handle hh;
	Dwarf_Die die; /* abstract origin, or the subprogram; its Dwfl lives as long as we do */
	bool has_die;  /* else it came from the cache on disk: */
	struct sym_module *from; /* a module and an address that resolve to it */
	uint64_t from_ip;
	bool computed;
	unsigned last;
	uint64_t seen; /* find_functions generation */
};

struct hl_symbolizer {
	struct sym_module *modules; /* by id */
	struct sym_module **loaded; /* loaded modules sorted by lo */
	size_t nloaded;
	bool loaded_dirty;
	bool loaded_overlap; /* then module_at() scans them all */
	uint64_t seq;
	struct istr *strings;
	struct cache_entry *cache;
	struct hl_sym_func *funcs;
	uint64_t generation;
};

/* libdwfl keeps a pointer to them in every session: not the symbolizer's. */
static char *debuginfo_path; /* NULL: the default */
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

/* ---- strings ---------------------------------------------------------- */

static struct istr *intern_entry(struct hl_symbolizer *s, const char *str)
{
	struct istr *e;
	size_t len = strlen(str);

	HASH_FIND(hh, s->strings, str, len, e);
	if (e)
		return e;
	e = calloc(1, sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->s, str, len + 1);
	HASH_ADD_KEYPTR(hh, s->strings, e->s, len, e);
	return e;
}

static const char *intern(struct hl_symbolizer *s, const char *str)
{
	struct istr *e = str ? intern_entry(s, str) : NULL;

	return e ? e->s : NULL;
}

/* A symbol name as shown: demangled when it is a C++ or Rust symbol. */
static const char *intern_symbol(struct hl_symbolizer *s, const char *sym)
{
	struct istr *e = sym ? intern_entry(s, sym) : NULL;

	if (!e)
		return NULL;
	if (!e->demangle_tried) {
		char *d = hl_demangle(e->s);

		e->demangle_tried = true;
		e->demangled = d ? intern(s, d) : NULL;
		free(d);
	}
	return e->demangled ? e->demangled : e->s;
}

/* Drops "." and empty components and folds "dir/.." in place, as text: the
 * file need not exist here, and "build/../src/x.c" should print as
 * "src/x.c".  (A symlinked dir followed by ".." would fold differently than
 * the kernel resolves it; compilers rarely write such paths.) */
static void normalize_path(char *path)
{
	bool abs = path[0] == '/';
	char *out = path + abs; /* out <= in: rewriting in place */
	const char *in = path + abs;
	size_t fixed = abs; /* what ".." cannot remove: "/" or leading "../" */

	for (bool last = !*in; !last;) {
		const char *end = strchrnul(in, '/');
		const char *next = end + 1;
		size_t len = end - in;

		last = !*end; /* before writing: "../" may overwrite the NUL */
		if (len == 0 || (len == 1 && in[0] == '.')) {
			/* nothing */
		} else if (len == 2 && in[0] == '.' && in[1] == '.') {
			if ((size_t)(out - path) > fixed) { /* out ends "comp/": drop it */
				out--;
				while ((size_t)(out - path) > fixed && out[-1] != '/')
					out--;
			} else if (!abs) { /* "/.." is "/" */
				memcpy(out, "../", 3);
				out += 3;
				fixed = out - path;
			}
		} else {
			memmove(out, in, len);
			out += len;
			*out++ = '/';
		}
		in = next;
	}
	if ((size_t)(out - path) > (size_t)abs && out[-1] == '/')
		out--;
	if (out == path)
		*out++ = '.';
	*out = 0;
}

/* A source path as DWARF names it, made absolute with the CU's comp_dir.
 * libdw has already joined the line table's directory (comp_dir itself for
 * directory 0), so a relative comp_dir (builds with -fdebug-prefix-map=DIR=.)
 * is not joined twice: such paths stay relative. */
static const char *intern_path(struct hl_symbolizer *s, const char *file, Dwarf_Die *cu)
{
	Dwarf_Attribute a;
	const char *dir = NULL;
	char *joined;
	const char *r;

	if (!file)
		return NULL;
	if (file[0] != '/' && cu && dwarf_attr(cu, DW_AT_comp_dir, &a))
		dir = dwarf_formstring(&a);
	if (dir && dir[0] != '/')
		dir = NULL;
	if (asprintf(&joined, "%s%s%s", dir ? dir : "", dir && dir[0] ? "/" : "", file) < 0)
		return NULL;
	normalize_path(joined);
	r = intern(s, joined);
	free(joined);
	return r;
}

/* ---- modules ---------------------------------------------------------- */

struct hl_symbolizer *hl_symbolizer_new(void)
{
	return calloc(1, sizeof(struct hl_symbolizer));
}

static void session_release(struct sym_session *ss);
static void disk_save_all(struct hl_symbolizer *s);

void hl_symbolizer_destroy(struct hl_symbolizer *s)
{
	struct sym_module *m, *mt;
	struct istr *e, *et;
	struct cache_entry *c, *ct;
	struct hl_sym_func *f, *ft;

	if (!s)
		return;
	disk_save_all(s);
	HASH_ITER(hh, s->modules, m, mt)
	{
		HASH_DEL(s->modules, m);
		if (m->ss)
			session_release(m->ss);
		free(m->build_id);
		free(m);
	}
	HASH_ITER(hh, s->cache, c, ct)
	{
		HASH_DEL(s->cache, c);
		free(c);
	}
	HASH_ITER(hh, s->funcs, f, ft)
	{
		HASH_DEL(s->funcs, f);
		free(f);
	}
	HASH_ITER(hh, s->strings, e, et)
	{
		HASH_DEL(s->strings, e);
		free(e);
	}
	free(s->loaded);
	free(s);
}

int hl_symbolizer_add_module(struct hl_symbolizer *s, const struct hl_module *in)
{
	struct sym_module *m;

	HASH_FIND(hh, s->modules, &in->id, sizeof(in->id), m);
	if (m)
		return -EEXIST;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->id = in->id;
	m->bias = in->bias;
	m->lo = in->lo;
	m->hi = in->hi;
	m->path = intern(s, in->path ? in->path : "");
	if (in->build_id_len) {
		m->build_id = malloc(in->build_id_len);
		if (!m->build_id) {
			free(m);
			return -ENOMEM;
		}
		memcpy(m->build_id, in->build_id, in->build_id_len);
		m->build_id_len = in->build_id_len;
	}
	if (!m->path) {
		free(m->build_id);
		free(m);
		return -ENOMEM;
	}
	m->loaded = true;
	m->seq = ++s->seq;
	HASH_ADD(hh, s->modules, id, sizeof(m->id), m);
	s->loaded_dirty = true;
	return 0;
}

int hl_symbolizer_unload_module(struct hl_symbolizer *s, uint64_t id)
{
	struct sym_module *m;

	HASH_FIND(hh, s->modules, &id, sizeof(id), m);
	if (!m)
		return -ENOENT;
	m->loaded = false;
	s->loaded_dirty = true;
	return 0;
}

static int cmp_lo(const void *a, const void *b)
{
	const struct sym_module *x = *(struct sym_module *const *)a;
	const struct sym_module *y = *(struct sym_module *const *)b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int rebuild_loaded(struct hl_symbolizer *s)
{
	struct sym_module *m, **v;
	size_t n = 0;
	uint64_t max_hi;

	v = realloc(s->loaded, (HASH_COUNT(s->modules) + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->loaded = v;
	for (m = s->modules; m; m = m->hh.next)
		if (m->loaded && m->hi > m->lo)
			v[n++] = m;
	qsort(v, n, sizeof(*v), cmp_lo);
	max_hi = n ? v[0]->hi : 0;
	s->loaded_overlap = false;
	for (size_t i = 1; i < n; i++) {
		if (v[i]->lo < max_hi)
			s->loaded_overlap = true;
		if (v[i]->hi > max_hi)
			max_hi = v[i]->hi;
	}
	s->nloaded = n;
	s->loaded_dirty = false;
	return 0;
}

static struct sym_module *module_at(struct hl_symbolizer *s, uint64_t ip)
{
	struct sym_module *best = NULL;
	size_t lo = 0, hi;

	if (s->loaded_dirty && rebuild_loaded(s) < 0)
		return NULL;
	if (s->loaded_overlap) {
		/* Should not happen in a sane trace: the latest load wins. */
		for (size_t i = 0; i < s->nloaded; i++) {
			struct sym_module *m = s->loaded[i];

			if (m->lo <= ip && ip < m->hi && (!best || m->seq > best->seq))
				best = m;
		}
		return best;
	}
	/* The last module starting at or below ip is the only candidate. */
	hi = s->nloaded;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->loaded[mid]->lo <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && ip < s->loaded[lo - 1]->hi)
		best = s->loaded[lo - 1];
	return best;
}

uint64_t hl_symbolizer_module_at(struct hl_symbolizer *s, uint64_t ip)
{
	struct sym_module *m = module_at(s, ip);

	return m ? m->id : HL_SYM_NO_MODULE;
}

static bool build_id_matches(struct sym_module *m, Dwfl_Module *dm)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n;

	if (!m->build_id_len)
		return true; /* the trace did not say: trust the path */
	n = dwfl_module_build_id(dm, &bits, &vaddr);
	return n > 0 && (size_t)n == m->build_id_len && !memcmp(bits, m->build_id, n);
}

/* ---- sessions ------------------------------------------------------------ */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sym_session *pool; /* idle sessions, most recent first */

static void session_end(struct sym_session *ss)
{
	struct sym_cu *u, *ut;

	HASH_ITER(hh, ss->cus, u, ut)
	{
		HASH_DEL(ss->cus, u);
		hl_scope_idx_free(u->scopes);
		hl_line_idx_free(u->lines);
		free(u);
	}
	hl_symtab_idx_free(ss->symtab);
	dwfl_end(ss->dwfl);
	free(ss->name);
	free(ss->file);
	free(ss);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* An idle session of this file, reported as this module would be. */
static struct sym_session *session_take(const char *name, const char *file, const struct stat *st,
					uint64_t base)
{
	struct sym_session **p, *ss = NULL;

	pthread_mutex_lock(&pool_lock);
	for (p = &pool; *p; p = &(*p)->next)
		if (!strcmp((*p)->name, name) && !strcmp((*p)->file, file) &&
		    same_file(&(*p)->st, st) && ((*p)->any_base || (*p)->base == base)) {
			ss = *p;
			*p = ss->next;
			ss->uses++;
			break;
		}
	pthread_mutex_unlock(&pool_lock);
	return ss;
}

/* Back to the pool, which keeps the MAX_IDLE most used.  Its line tables
 * go: their names are the symbolizer's. */
static void session_release(struct sym_session *ss)
{
	struct sym_session **p, **least = NULL, *old = NULL;
	struct sym_cu *u;
	int n = 0;

	for (u = ss->cus; u; u = u->hh.next) {
		hl_line_idx_free(u->lines);
		u->lines = NULL;
		u->lines_tried = false;
	}
	pthread_mutex_lock(&pool_lock);
	ss->next = pool;
	pool = ss;
	for (p = &pool; *p; p = &(*p)->next, n++)
		if (!least || (*p)->uses <= (*least)->uses) /* ties: the oldest */
			least = p;
	if (n > MAX_IDLE) {
		old = *least;
		*least = old->next;
	}
	pthread_mutex_unlock(&pool_lock);
	if (old)
		session_end(old);
}

/* At exit, so that leak checkers see every session ended. */
__attribute__((destructor)) static void pool_drain(void)
{
	pthread_mutex_lock(&pool_lock);
	while (pool) {
		struct sym_session *ss = pool;

		pool = ss->next;
		session_end(ss);
	}
	pthread_mutex_unlock(&pool_lock);
}

/* Reports FILE at base in a fresh session. */
static struct sym_session *session_open(const char *name, const char *file, const struct stat *st,
					uint64_t base)
{
	struct sym_session *ss = calloc(1, sizeof(*ss));
	GElf_Addr bias;
	GElf_Ehdr ehdr;
	Elf *elf;

	if (!ss)
		return NULL;
	ss->name = strdup(name);
	ss->file = strdup(file);
	ss->dwfl = dwfl_begin(&callbacks);
	if (!ss->name || !ss->file || !ss->dwfl)
		goto fail;
	ss->st = *st;
	ss->base = base;
	ss->uses = 1;
	dwfl_report_begin(ss->dwfl);
	/* add_p_vaddr: base is the load bias (ET_DYN); ET_EXEC ignores it. */
	ss->dm = dwfl_report_elf(ss->dwfl, name, file, -1, base, true);
	if (dwfl_report_end(ss->dwfl, NULL, NULL) != 0 || !ss->dm ||
	    !(elf = dwfl_module_getelf(ss->dm, &bias)))
		goto fail;
	ss->any_base = gelf_getehdr(elf, &ehdr) && ehdr.e_type == ET_DYN && bias == base;
	return ss;
fail:
	if (ss->dwfl)
		dwfl_end(ss->dwfl);
	free(ss->name);
	free(ss->file);
	free(ss);
	return NULL;
}

/* Opens FILE for the module, or takes an idle session of it; true if it
 * opened and its build-id is the trace's.  *mismatch tells which way it
 * failed. */
static bool try_open(struct sym_module *m, const char *file, bool *mismatch)
{
	struct sym_session *ss;
	struct stat st;

	/* Regular files only: opening a FIFO named by a hostile trace would hang. */
	if (!file[0] || stat(file, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	ss = session_take(m->path, file, &st, m->bias);
	if (!ss)
		ss = session_open(m->path, file, &st, m->bias);
	if (!ss)
		return false;
	if (!build_id_matches(m, ss->dm)) {
		*mismatch = true;
		session_release(ss);
		return false;
	}
	m->ss = ss;
	m->dm = ss->dm;
	m->shift = ss->any_base ? m->bias - ss->base : 0;
	return true;
}

/* Opens a module's ELF: its path, else (gone or changed since the trace) the
 * files the trace's build-id names under /usr/lib/debug/.build-id: the
 * binary itself where distributions link it, or its separate debug file,
 * which keeps the program headers and symbols. */
static void open_module(struct sym_module *m)
{
	bool mismatch = false;
	char path[sizeof(DEBUG_ROOT) + 16 + 2 * 64 + 8];

	m->state = MOD_NOFILE;
	if (try_open(m, m->path, &mismatch))
		goto opened;
	if (m->build_id_len >= 2 && m->build_id_len <= 64) {
		size_t n =
		    snprintf(path, sizeof(path), DEBUG_ROOT "/.build-id/%02x/", m->build_id[0]);

		for (size_t i = 1; i < m->build_id_len; i++)
			n += snprintf(path + n, sizeof(path) - n, "%02x", m->build_id[i]);
		if (try_open(m, path, &mismatch))
			goto opened;
		snprintf(path + n, sizeof(path) - n, ".debug");
		if (try_open(m, path, &mismatch))
			goto opened;
	}
	if (mismatch)
		fprintf(stderr,
			"heapline: %s: build-id differs from the traced one "
			"(file changed since the run?); showing module+offset\n",
			m->path);
	return;
opened:
	m->state = MOD_OPEN;
}

/* ---- compilation units ------------------------------------------------- */

/* One address's compilation unit while it is resolved, with its indexes. */
struct unit {
	Dwarf_Die *cu;
	struct sym_cu *u; /* NULL if out of memory: libdw the slow way */
};

static struct unit unit_of(struct sym_module *m, Dwarf_Die *cu)
{
	Dwarf_Off off = dwarf_dieoffset(cu);
	struct sym_cu *u;

	HASH_FIND(hh, m->ss->cus, &off, sizeof(off), u);
	if (!u && (u = calloc(1, sizeof(*u)))) {
		u->off = off;
		HASH_ADD(hh, m->ss->cus, off, sizeof(u->off), u);
	}
	return (struct unit){cu, u};
}

struct intern_ctx {
	struct hl_symbolizer *s;
	Dwarf_Die *cu;
};

static const char *intern_in_cu(void *ctx, const char *name)
{
	struct intern_ctx *c = ctx;

	return intern_path(c->s, name, c->cu);
}

/* The unit's line and file tables, names interned as intern_path(name, cu). */
static struct hl_line_idx *unit_lines(struct hl_symbolizer *s, struct unit *un)
{
	struct sym_cu *u = un->u;

	if (u && !u->lines_tried) {
		struct intern_ctx c = {s, un->cu};

		u->lines_tried = true;
		u->lines = hl_line_idx_new(dwarf_cu_getdwarf(un->cu->cu), u->off, intern_in_cu, &c);
	}
	return u ? u->lines : NULL;
}

static struct hl_scope_idx *unit_scopes(struct unit *un)
{
	struct sym_cu *u = un->u;

	if (u && !u->scopes_tried) {
		u->scopes_tried = true;
		u->scopes = hl_scope_idx_new(un->cu);
	}
	return u ? u->scopes : NULL;
}

/* ---- functions ---------------------------------------------------------- */

static const char *die_name(struct hl_symbolizer *s, Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *n = NULL;

	/* The linkage name only when mangled (C++'s and Rust's legacy "_Z",
	 * Rust's v0 "_R"): in C it is an asm label, such as glibc's internal
	 * "__GI_qsort" for qsort. */
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
		n = dwarf_formstring(&a);
	if (n && strncmp(n, "_Z", 2) != 0 && strncmp(n, "_R", 2) != 0)
		n = NULL;
	if (!n && dwarf_attr_integrate(die, DW_AT_name, &a))
		n = dwarf_formstring(&a);
	return n ? intern_symbol(s, n) : NULL;
}

/* The DIE a concrete instance was made from (itself if none). */
static Dwarf_Die origin_of(Dwarf_Die *die)
{
	Dwarf_Die d = *die, o;
	Dwarf_Attribute a;

	for (int i = 0;
	     i < 8 && dwarf_attr(&d, DW_AT_abstract_origin, &a) && dwarf_formref_die(&a, &o); i++)
		d = o;
	return d;
}

/* intern_path(dwarf_decl_file(die), the origin's unit).  libdw 0.188 takes
 * the index from the DIE or what it integrates, and the file table of the
 * DIE's own unit, which it reads in full: in the common case (all of them
 * in the unit being resolved, un) the unit's compact table answers. */
static const char *decl_path(struct hl_symbolizer *s, Dwarf_Die *die, Dwarf_Die *origin,
			     struct unit *un)
{
	Dwarf_Die ocu, *ocup = dwarf_diecu(origin, &ocu, NULL, NULL);
	struct hl_line_idx *li;
	Dwarf_Attribute a;
	Dwarf_Word idx;

	if (!un || !ocup || die->cu != un->cu->cu || ocu.cu != die->cu || !(li = unit_lines(s, un)))
		return intern_path(s, dwarf_decl_file(die), ocup);
	if (dwarf_formudata(dwarf_attr_integrate(die, DW_AT_decl_file, &a), &idx) != 0 ||
	    idx == 0 || !hl_line_idx_has_table(li))
		return NULL; /* 0: "no file", even in DWARF 5 */
	return hl_line_idx_file(li, idx);
}

/* The function of key: the one known, or a new one (then *made). */
static struct hl_sym_func *func_get(struct hl_symbolizer *s, const struct func_key *key,
				    bool *made)
{
	struct hl_sym_func *f;

	HASH_FIND(hh, s->funcs, key, sizeof(*key), f);
	if (f || !(f = calloc(1, sizeof(*f))))
		return f;
	f->key = *key;
	HASH_ADD(hh, s->funcs, key, sizeof(f->key), f);
	if (made)
		*made = true;
	return f;
}

/* The canonical function of a subprogram or inlined_subroutine DIE; un is
 * the unit being resolved, if any. */
static struct hl_sym_func *func_of(struct hl_symbolizer *s, Dwarf_Die *die, const char *name,
				   struct unit *un)
{
	struct func_key key;
	struct hl_sym_func *f;
	Dwarf_Die origin = origin_of(die);
	int line = 0;

	memset(&key, 0, sizeof(key)); /* hashed as bytes: no stray padding */
	key.name = name;
	key.file = decl_path(s, die, &origin, un);
	if (!name || !key.file)
		return NULL;
	if (dwarf_decl_line(die, &line) == 0 && line > 0)
		key.first = line;
	f = func_get(s, &key, NULL);
	if (f && !f->has_die) { /* new, or known from the cache on disk */
		f->die = origin;
		f->has_die = true;
	}
	return f;
}

struct range {
	Dwarf_Addr lo, hi;
};

struct ranges {
	struct range *v;
	size_t n, cap;
};

static void ranges_add_die(struct ranges *r, Dwarf_Die *die)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
		if (r->n == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 8;
			struct range *v = realloc(r->v, cap * sizeof(*v));

			if (!v)
				return;
			r->v = v;
			r->cap = cap;
		}
		r->v[r->n++] = (struct range){lo, hi};
	}
}

static bool ranges_hold(const struct ranges *r, Dwarf_Addr a)
{
	for (size_t i = 0; i < r->n; i++)
		if (a >= r->v[i].lo && a < r->v[i].hi)
			return true;
	return false;
}

/* Code of one kind of instance: out-of-line copies, or inlined ones. */
struct lines_part {
	struct ranges code;    /* the function's code */
	struct ranges foreign; /* code inlined into it from others */
	unsigned max_call;     /* highest call line of that code */
};

struct lines_walk {
	struct hl_symbolizer *s;
	struct hl_sym_func *f;
	Dwarf_Die *cu;
	Dwarf_Files *files;
	size_t nfiles;
	struct lines_part ool, inl;
	unsigned next_start; /* first line of the next function in the file */
};

static bool is_instance(struct hl_sym_func *f, Dwarf_Die *die)
{
	Dwarf_Attribute a;
	Dwarf_Die o;

	if (die->addr == f->die.addr)
		return true;
	return dwarf_attr(die, DW_AT_abstract_origin, &a) && dwarf_formref_die(&a, &o) &&
	       o.addr == f->die.addr;
}

/* Inside one instance: code inlined from other functions is not ours, but
 * the line it was called from is. */
static void walk_instance_body(struct lines_walk *w, struct lines_part *p, Dwarf_Die *parent,
			       int depth)
{
	Dwarf_Die c;

	if (depth > MAX_DIE_DEPTH || dwarf_child(parent, &c) != 0)
		return;
	do {
		Dwarf_Attribute a;
		Dwarf_Word file, line;

		switch (dwarf_tag(&c)) {
		case DW_TAG_inlined_subroutine:
			ranges_add_die(&p->foreign, &c);
			if (dwarf_formudata(dwarf_attr(&c, DW_AT_call_file, &a), &file) == 0 &&
			    dwarf_formudata(dwarf_attr(&c, DW_AT_call_line, &a), &line) == 0 &&
			    file < w->nfiles && line > p->max_call && line < 1u << 30 &&
			    intern_path(w->s, dwarf_filesrc(w->files, file, NULL, NULL), w->cu) ==
				w->f->key.file)
				p->max_call = line;
			break;
		case DW_TAG_subprogram: /* nested functions are their own */
			break;
		default:
			walk_instance_body(w, p, &c, depth + 1);
		}
	} while (dwarf_siblingof(&c, &c) == 0);
}

/* A function defined after ours in the same file bounds our last line.
 * Only file-scope definitions count: a C++ lambda or local class method,
 * whose DIE has DW_AT_specification, is declared inside its function. */
static void note_next_start(struct lines_walk *w, Dwarf_Die *die)
{
	int line;

	if (dwarf_hasattr(die, DW_AT_specification) || dwarf_hasattr(die, DW_AT_abstract_origin) ||
	    dwarf_decl_line(die, &line) != 0 || line <= 0 || (unsigned)line <= w->f->key.first ||
	    (w->next_start && (unsigned)line >= w->next_start))
		return;
	if (intern_path(w->s, dwarf_decl_file(die), w->cu) == w->f->key.file)
		w->next_start = line;
}

/* Whether a namespace holds what is defined inside our function's body:
 * Rust puts a function's closures and nested items, and theirs, in a
 * namespace named after it ("{closure#0}" of r::main in namespace r::main,
 * its own closures in r::main::{closure#0}). */
static bool ours_namespace(struct lines_walk *w, Dwarf_Die *ns)
{
	const char *a = dwarf_diename(ns), *b = dwarf_diename(&w->f->die);

	return dwarf_tag(ns) == DW_TAG_namespace && a && b && !strcmp(a, b);
}

/* in_ours: parent is (inside) a namespace of our function's. */
static void walk_for_instances(struct lines_walk *w, Dwarf_Die *parent, int depth, bool in_ours)
{
	Dwarf_Die c;

	if (depth > MAX_DIE_DEPTH || dwarf_child(parent, &c) != 0)
		return;
	do {
		int tag = dwarf_tag(&c);
		int ptag = dwarf_tag(parent);

		if (tag == DW_TAG_subprogram && !in_ours &&
		    (ptag == DW_TAG_compile_unit || ptag == DW_TAG_namespace))
			note_next_start(w, &c);
		if ((tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) &&
		    is_instance(w->f, &c)) {
			struct lines_part *p = tag == DW_TAG_subprogram ? &w->ool : &w->inl;

			ranges_add_die(&p->code, &c);
			walk_instance_body(w, p, &c, depth + 1);
		} else {
			walk_for_instances(w, &c, depth + 1, in_ours || ours_namespace(w, &c));
		}
	} while (dwarf_siblingof(&c, &c) == 0);
}

/* The highest line of the function's file in a part's own code. */
static unsigned max_line(struct lines_walk *w, struct lines_part *p, unsigned last)
{
	Dwarf_Lines *lines;
	size_t nlines;
	const char *prev_src = NULL, *prev_path = NULL;

	if (p->max_call > last)
		last = p->max_call;
	if (!p->code.n || dwarf_getsrclines(w->cu, &lines, &nlines) != 0)
		return last;
	for (size_t i = 0; i < nlines; i++) {
		Dwarf_Line *l = dwarf_onesrcline(lines, i);
		Dwarf_Addr addr;
		int line;
		const char *src;

		if (!l || dwarf_lineaddr(l, &addr) != 0 || dwarf_lineno(l, &line) != 0 ||
		    line <= 0 || (unsigned)line <= last ||
		    (w->next_start && (unsigned)line >= w->next_start) ||
		    !ranges_hold(&p->code, addr) || ranges_hold(&p->foreign, addr))
			continue;
		src = dwarf_linesrc(l, NULL, NULL);
		if (src != prev_src) { /* consecutive rows share a file */
			prev_src = src;
			prev_path = intern_path(w->s, src, w->cu);
		}
		if (prev_path == w->f->key.file)
			last = line;
	}
	return last;
}

static int resolve_uncached(struct hl_symbolizer *s, struct sym_module *m, uint64_t ip,
			    struct hl_frame *out);

/* Out-of-line copies are preferred: in inlined copies the caller's
 * instructions mingle with the callee's, under the caller's lines. */
static void compute_lines(struct hl_symbolizer *s, struct hl_sym_func *f)
{
	struct lines_walk w = {.s = s, .f = f};
	Dwarf_Die cu;
	unsigned last = f->key.first;

	if (!f->has_die && f->from) { /* from the cache: find its DIE again */
		struct hl_frame tmp[MAX_INLINE_DEPTH];
		resolve_uncached(s, f->from, f->from_ip, tmp);
	}
	f->computed = true;
	f->last = last;
	if (!f->has_die || !dwarf_diecu(&f->die, &cu, NULL, NULL))
		return;
	w.cu = &cu;
	if (dwarf_getsrcfiles(&cu, &w.files, &w.nfiles) != 0)
		w.nfiles = 0;
	walk_for_instances(&w, &cu, 0, false);
	last = max_line(&w, w.ool.code.n ? &w.ool : &w.inl, last);
	if (w.next_start && last >= w.next_start)
		last = w.next_start > f->key.first ? w.next_start - 1 : f->key.first;
	free(w.ool.code.v);
	free(w.ool.foreign.v);
	free(w.inl.code.v);
	free(w.inl.foreign.v);
	f->last = last;
}

void hl_symbolizer_function_lines(struct hl_symbolizer *s, const struct hl_sym_func *cf,
				  struct hl_func_lines *out)
{
	struct hl_sym_func *f = (struct hl_sym_func *)cf; /* ours: lazily completed */

	if (!f->computed)
		compute_lines(s, f);
	out->name = f->key.name;
	out->file = f->key.file;
	out->first = f->key.first;
	out->last = f->last;
}

/* ---- resolving ------------------------------------------------------ */

static void frame_init(struct hl_frame *fr, struct sym_module *m, uint64_t ip)
{
	memset(fr, 0, sizeof(*fr));
	fr->module = m ? m->path : NULL;
	fr->module_id = m ? m->id : HL_SYM_NO_MODULE;
	fr->offset = m ? ip - m->bias : ip;
}

/* A file of the unit's file table (DW_AT_call_file). */
static const char *file_of_index(struct hl_symbolizer *s, struct unit *un, Dwarf_Word idx)
{
	struct hl_line_idx *li = unit_lines(s, un);
	Dwarf_Files *files;
	size_t n;

	if (li)
		return hl_line_idx_file(li, idx);
	if (dwarf_getsrcfiles(un->cu, &files, &n) != 0 || idx >= n)
		return NULL;
	return intern_path(s, dwarf_filesrc(files, idx, NULL, NULL), un->cu);
}

/* The line of pc: dwarf_getsrc_die(), from the compact table if it has one. */
static void line_of(struct hl_symbolizer *s, struct unit *un, Dwarf_Addr pc, const char **file,
		    int *line, int *col)
{
	struct hl_line_idx *li = unit_lines(s, un);
	struct hl_line hl;
	Dwarf_Line *l;

	if (li) {
		if (hl_line_idx_lookup(li, pc, &hl)) {
			*file = hl.file;
			*line = hl.line;
			*col = hl.column;
		}
		return;
	}
	l = dwarf_getsrc_die(un->cu, pc);
	if (l) {
		*file = intern_path(s, dwarf_linesrc(l, NULL, NULL), un->cu);
		if (dwarf_lineno(l, line) != 0 || *line < 0)
			*line = 0;
		if (dwarf_linecol(l, col) != 0 || *col < 0)
			*col = 0;
	}
}

/* The scopes around pc, innermost first, into *scopes (malloc'd, or chain). */
static int scopes_of(struct unit *un, Dwarf_Addr pc, Dwarf_Die chain[HL_SCOPE_MAX],
		     Dwarf_Die **scopes)
{
	struct hl_scope_idx *sc = unit_scopes(un);
	int n = sc ? hl_scope_idx_lookup(sc, pc, chain) : -1;

	if (n >= 0) {
		*scopes = chain;
		return n;
	}
	/* dwarf_getscopes() leaves an inlined instance for the scopes around its
	 * abstract definition; the DIE tree around the innermost scope found is
	 * the physical nesting, inlined callers included (as eu-addr2line -i). */
	*scopes = NULL;
	n = dwarf_getscopes(un->cu, pc, scopes);
	if (n > 0) {
		Dwarf_Die inner = (*scopes)[0];

		free(*scopes);
		*scopes = NULL;
		n = dwarf_getscopes_die(&inner, scopes);
	}
	return n;
}

/* The DWARF answer: one frame per inlined level plus the real function. */
static int resolve_dwarf(struct hl_symbolizer *s, struct sym_module *m, uint64_t ip,
			 struct hl_frame *out)
{
	Dwarf_Addr bias, pc;
	Dwarf_Die *cu, *scopes = NULL, chain[HL_SCOPE_MAX];
	struct unit un;
	const char *file = NULL;
	int line = 0, col = 0, nscopes, n = 0;

	cu = dwfl_module_addrdie(m->dm, ip - 1 - m->shift, &bias);
	if (!cu)
		return 0;
	m->dwarf_used = true;
	pc = ip - 1 - m->shift - bias;
	un = unit_of(m, cu);
	line_of(s, &un, pc, &file, &line, &col);
	nscopes = scopes_of(&un, pc, chain, &scopes);
	for (int i = 0; i < nscopes && n < MAX_INLINE_DEPTH; i++) {
		Dwarf_Die *d = &scopes[i];
		int tag = dwarf_tag(d);
		Dwarf_Attribute a;
		Dwarf_Word w;

		if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine)
			continue;
		frame_init(&out[n], m, ip);
		out[n].function = die_name(s, d);
		out[n].file = file;
		out[n].line = line;
		out[n].column = col;
		out[n].inlined = tag == DW_TAG_inlined_subroutine;
		out[n].func = func_of(s, d, out[n].function, &un);
		n++;
		if (tag == DW_TAG_subprogram)
			break;
		/* The next frame out is where this one was inlined. */
		file = dwarf_formudata(dwarf_attr(d, DW_AT_call_file, &a), &w) == 0
			   ? file_of_index(s, &un, w)
			   : NULL;
		line = dwarf_formudata(dwarf_attr(d, DW_AT_call_line, &a), &w) == 0 && w < 1u << 30
			   ? (int)w
			   : 0;
		col = dwarf_formudata(dwarf_attr(d, DW_AT_call_column, &a), &w) == 0 && w < 1u << 30
			  ? (int)w
			  : 0;
	}
	if (scopes != chain)
		free(scopes);
	if (n == 0 && file) {
		/* Line table but no function DIE (assembly): keep the line. */
		frame_init(&out[0], m, ip);
		out[0].file = file;
		out[0].line = line;
		out[0].column = col;
		n = 1;
	}
	return n;
}

/* Fills in a frame's function from the ELF symbol table if DWARF had none. */
static void name_from_symtab(struct hl_symbolizer *s, struct sym_module *m, uint64_t ip,
			     struct hl_frame *fr)
{
	GElf_Off off;
	GElf_Sym sym;
	const char *name = NULL;
	int r = -1;
	struct sym_session *ss = m->ss;

	if (!ss->symtab_tried) {
		ss->symtab_tried = true;
		ss->symtab = hl_symtab_idx_new(ss->dm);
	}
	if (ss->symtab)
		r = hl_symtab_idx_lookup(ss->symtab, ip - 1 - m->shift, &name, &off);
	if (r < 0)
		name =
		    dwfl_module_addrinfo(ss->dm, ip - 1 - m->shift, &off, &sym, NULL, NULL, NULL);
	if (name && name[0]) {
		fr->function = intern_symbol(s, name);
		fr->symbol_offset = off + 1;
	}
}

const char *hl_symbolizer_symbol(struct hl_symbolizer *s, uint64_t module_id, uint64_t ip)
{
	struct sym_module *m = NULL;
	struct hl_frame fr;

	HASH_FIND(hh, s->modules, &module_id, sizeof(module_id), m);
	if (!m || ip == 0)
		return NULL;
	if (m->state == MOD_UNOPENED)
		open_module(m);
	if (m->state != MOD_OPEN)
		return NULL;
	frame_init(&fr, m, ip);
	name_from_symtab(s, m, ip, &fr);
	return fr.function;
}

static int resolve_uncached(struct hl_symbolizer *s, struct sym_module *m, uint64_t ip,
			    struct hl_frame *out)
{
	int n = 0;

	if (m && m->state == MOD_UNOPENED)
		open_module(m);
	if (m && m->state == MOD_OPEN && ip > 0) {
		n = resolve_dwarf(s, m, ip, out);
		if (n == 0)
			frame_init(&out[n++], m, ip);
		if (!out[n - 1].function)
			name_from_symtab(s, m, ip, &out[n - 1]);
	} else {
		frame_init(&out[n++], m, ip);
	}
	return n;
}

/* ---- the cache on disk (symcache.h) ------------------------------------ */

/* A function the cache names: the live one if known, else one without its
 * DIE, which compute_lines finds again through (from, from_ip). */
static struct hl_sym_func *disk_func(struct hl_symbolizer *s, const struct hl_symcache_func *cf,
				     struct sym_module *m)
{
	struct func_key key;
	struct hl_sym_func *f;
	bool made = false;

	memset(&key, 0, sizeof(key));
	key.name = intern(s, cf->name);
	key.file = intern(s, cf->file);
	key.first = cf->first;
	if (!key.name || !key.file)
		return NULL;
	f = func_get(s, &key, &made);
	if (f && made) {
		f->from = m;
		f->computed = cf->last != 0;
		f->last = cf->last;
	}
	return f;
}

/* Puts what the module's cache file knows into the cache, as if each of its
 * addresses had been resolved here.  Nothing if there is no valid file. */
static void disk_load(struct hl_symbolizer *s, struct sym_module *m)
{
	struct hl_symcache c;
	struct hl_sym_func **fs;

	m->disk_tried = true;
	if (!m->build_id_len || hl_symcache_load(m->build_id, m->build_id_len, &c) != 0)
		return;
	fs = calloc(c.nfuncs ? c.nfuncs : 1, sizeof(*fs));
	for (uint32_t i = 0; fs && i < c.nfuncs; i++)
		fs[i] = disk_func(s, &c.funcs[i], m);
	for (uint32_t i = 0; fs && i < c.nentries; i++) {
		const struct hl_symcache_entry *ce = &c.entries[i];
		struct cache_key key;
		struct cache_entry *e;
		uint64_t ip = ce->offset + m->bias;

		memset(&key, 0, sizeof(key));
		key.module_id = m->id;
		key.ip = ip;
		HASH_FIND(hh, s->cache, &key, sizeof(key), e);
		if (e || !(e = malloc(sizeof(*e) + ce->n * sizeof(e->frames[0]))))
			continue;
		e->key = key;
		e->n = (int)ce->n;
		for (uint32_t j = 0; j < ce->n; j++) {
			const struct hl_symcache_frame *cf = &c.frames[ce->first + j];
			struct hl_frame *fr = &e->frames[j];
			struct hl_sym_func *f = cf->func >= 0 ? fs[cf->func] : NULL;

			frame_init(fr, m, ip);
			fr->function = intern(s, cf->function);
			fr->file = intern(s, cf->file);
			fr->line = cf->line;
			fr->column = cf->column;
			fr->inlined = cf->flags & HL_SYMCACHE_INLINED;
			fr->symbol_offset = cf->symbol_offset;
			fr->func = f;
			if (f && !f->has_die && f->from == m && !f->from_ip)
				f->from_ip = ip;
		}
		HASH_ADD(hh, s->cache, key, sizeof(e->key), e);
	}
	free(fs);
	hl_symcache_free(&c);
}

struct disk_func_ref {
	const struct hl_sym_func *f;
	int32_t index;
	UT_hash_handle hh;
};

static int cmp_entry_offset(const void *a, const void *b)
{
	const struct hl_symcache_entry *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Writes the cache file of m's build-id: every address resolved in any
 * module with that build-id, by offset. */
static void disk_save(struct hl_symbolizer *s, struct sym_module *m)
{
	struct hl_symcache c;
	struct disk_func_ref *refs = NULL, *r, *rt;
	struct cache_entry *e;
	const char *mainfile = NULL, *debugfile = NULL;
	size_t ecap = 0, fcap = 0, funcap = 0;
	bool ok = true;

	memset(&c, 0, sizeof(c));
	dwfl_module_info(m->dm, NULL, NULL, NULL, NULL, NULL, &mainfile, &debugfile);
	if (!mainfile || hl_symcache_stamp(mainfile, &c.stamps[c.nstamps]) != 0)
		return;
	c.nstamps++;
	if (debugfile && strcmp(debugfile, mainfile) != 0) {
		if (hl_symcache_stamp(debugfile, &c.stamps[c.nstamps]) != 0)
			return;
		c.nstamps++;
	}
	for (e = s->cache; e && ok; e = e->hh.next) {
		struct sym_module *em;

		HASH_FIND(hh, s->modules, &e->key.module_id, sizeof(e->key.module_id), em);
		if (!em || em->build_id_len != m->build_id_len ||
		    memcmp(em->build_id, m->build_id, m->build_id_len) != 0)
			continue;
		if (c.nentries == ecap || c.nframes + e->n > fcap) {
			size_t ne = ecap ? 2 * ecap : 1024, nf = fcap ? 2 * fcap : 4096;
			while (nf < c.nframes + (size_t)e->n)
				nf *= 2;
			void *a = realloc(c.entries, ne * sizeof(*c.entries));
			if (a)
				c.entries = a;
			void *b = a ? realloc(c.frames, nf * sizeof(*c.frames)) : NULL;
			if (b)
				c.frames = b;
			if (!a || !b || ne > UINT32_MAX || nf > UINT32_MAX) {
				ok = false;
				break;
			}
			ecap = ne;
			fcap = nf;
		}
		c.entries[c.nentries++] = (struct hl_symcache_entry){
		    .offset = e->key.ip - em->bias, .first = c.nframes, .n = (uint32_t)e->n};
		for (int j = 0; j < e->n && ok; j++) {
			const struct hl_frame *fr = &e->frames[j];
			struct hl_symcache_frame *cf = &c.frames[c.nframes++];
			int32_t fi = -1;

			if (fr->func) {
				HASH_FIND_PTR(refs, &fr->func, r);
				if (!r && c.nfuncs == funcap) {
					size_t n = funcap ? 2 * funcap : 256;
					void *a = realloc(c.funcs, n * sizeof(*c.funcs));
					if (!a) {
						ok = false;
						break;
					}
					c.funcs = a;
					funcap = n;
				}
				if (!r && (r = malloc(sizeof(*r)))) {
					const struct hl_sym_func *f = fr->func;
					r->f = f;
					r->index = (int32_t)c.nfuncs;
					c.funcs[c.nfuncs++] = (struct hl_symcache_func){
					    f->key.name, f->key.file, f->key.first,
					    f->computed ? f->last : 0};
					HASH_ADD_PTR(refs, f, r);
				}
				if (!r) {
					ok = false;
					break;
				}
				fi = r->index;
			}
			*cf = (struct hl_symcache_frame){
			    .function = fr->function,
			    .file = fr->file,
			    .line = fr->line,
			    .column = fr->column,
			    .flags = fr->inlined ? HL_SYMCACHE_INLINED : 0,
			    .func = fi,
			    .symbol_offset = fr->symbol_offset,
			};
		}
	}
	if (ok && c.nentries) {
		/* Two loads of the module at different places may have both
		 * resolved an offset: one is enough. */
		uint32_t n = 0;
		qsort(c.entries, c.nentries, sizeof(*c.entries), cmp_entry_offset);
		for (uint32_t i = 0; i < c.nentries; i++)
			if (!n || c.entries[i].offset != c.entries[n - 1].offset)
				c.entries[n++] = c.entries[i];
		c.nentries = n;
		hl_symcache_save(m->build_id, m->build_id_len, &c);
	}
	HASH_ITER(hh, refs, r, rt)
	{
		HASH_DEL(refs, r);
		free(r);
	}
	free(c.entries);
	free(c.frames);
	free(c.funcs);
}

/* At the end: the cache file of every build-id whose DWARF answered
 * something new here. */
static void disk_save_all(struct hl_symbolizer *s)
{
	struct sym_module *m, *o;

	if (!hl_symcache_dir())
		return;
	for (m = s->modules; m; m = m->hh.next) {
		bool done = false;

		if (!m->resolved || !m->dwarf_used || m->state != MOD_OPEN || !m->build_id_len)
			continue;
		for (o = s->modules; o != m && !done; o = o->hh.next)
			done = o->resolved && o->dwarf_used && o->state == MOD_OPEN &&
			       o->build_id_len == m->build_id_len &&
			       !memcmp(o->build_id, m->build_id, m->build_id_len);
		if (!done)
			disk_save(s, m);
	}
}

int hl_symbolizer_resolve(struct hl_symbolizer *s, uint64_t module_id, uint64_t ip,
			  const struct hl_frame **frames)
{
	struct sym_module *m = NULL;
	struct cache_key key;
	struct cache_entry *e;
	struct hl_frame tmp[MAX_INLINE_DEPTH];
	int n;

	if (module_id == HL_SYM_CURRENT) {
		m = module_at(s, ip);
		module_id = m ? m->id : HL_SYM_NO_MODULE;
	}
	memset(&key, 0, sizeof(key));
	key.module_id = module_id;
	key.ip = ip;
	HASH_FIND(hh, s->cache, &key, sizeof(key), e);
	if (e) {
		*frames = e->frames;
		return e->n;
	}
	if (module_id != HL_SYM_NO_MODULE && !m) {
		HASH_FIND(hh, s->modules, &module_id, sizeof(module_id), m);
		if (!m)
			return -ENOENT;
	}
	if (m && !m->disk_tried) {
		disk_load(s, m);
		HASH_FIND(hh, s->cache, &key, sizeof(key), e);
		if (e) {
			*frames = e->frames;
			return e->n;
		}
	}
	if (m)
		m->resolved = true;
	n = resolve_uncached(s, m, ip, tmp);
	e = malloc(sizeof(*e) + n * sizeof(e->frames[0]));
	if (!e)
		return -ENOMEM;
	e->key = key;
	e->n = n;
	memcpy(e->frames, tmp, n * sizeof(tmp[0]));
	HASH_ADD(hh, s->cache, key, sizeof(e->key), e);
	*frames = e->frames;
	return n;
}

/* ---- finding functions by name ------------------------------------------ */

/* fnmatch, where a relative glob may match from any directory boundary. */
static bool path_matches(const char *glob, const char *path)
{
	char *anywhere;
	bool ok;

	if (!glob)
		return true;
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

struct find {
	struct hl_symbolizer *s;
	const char *name_glob, *file_glob;
	int (*cb)(void *ctx, const struct hl_sym_func *f);
	void *ctx;
	int ret;
};

static int find_one(Dwarf_Die *die, void *arg)
{
	struct find *fd = arg;
	struct hl_sym_func *f;
	const char *name;
	Dwarf_Attribute a;
	bool flag;

	if (dwarf_attr_integrate(die, DW_AT_declaration, &a) && dwarf_formflag(&a, &flag) == 0 &&
	    flag && !dwarf_hasattr(die, DW_AT_low_pc) && !dwarf_hasattr(die, DW_AT_ranges))
		return DWARF_CB_OK; /* a declaration, not a definition */
	name = die_name(fd->s, die);
	if (!name || (fd->name_glob && fnmatch(fd->name_glob, name, 0) != 0))
		return DWARF_CB_OK;
	f = func_of(fd->s, die, name, NULL);
	if (!f || f->seen == fd->s->generation || !path_matches(fd->file_glob, f->key.file))
		return DWARF_CB_OK;
	f->seen = fd->s->generation;
	fd->ret = fd->cb(fd->ctx, f);
	return fd->ret ? DWARF_CB_ABORT : DWARF_CB_OK;
}

/* Whether any file of a CU's file table could hold a matching function. */
static bool cu_may_match(struct hl_symbolizer *s, Dwarf_Die *cu, const char *file_glob)
{
	Dwarf_Files *files;
	size_t n;

	if (!file_glob || dwarf_getsrcfiles(cu, &files, &n) != 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (path_matches(file_glob,
				 intern_path(s, dwarf_filesrc(files, i, NULL, NULL), cu)))
			return true;
	return false;
}

int hl_symbolizer_find_functions(struct hl_symbolizer *s, const char *name_glob,
				 const char *file_glob,
				 int (*cb)(void *ctx, const struct hl_sym_func *f), void *ctx)
{
	struct find fd = {
	    .s = s, .name_glob = name_glob, .file_glob = file_glob, .cb = cb, .ctx = ctx};
	struct sym_module *m;

	s->generation++;
	for (m = s->modules; m && !fd.ret; m = m->hh.next) {
		Dwarf_Die *cu = NULL;
		Dwarf_Addr bias;

		if (m->state == MOD_UNOPENED)
			open_module(m);
		if (m->state != MOD_OPEN)
			continue;
		while (!fd.ret && (cu = dwfl_module_nextcu(m->dm, cu, &bias))) {
			if (!cu_may_match(s, cu, file_glob))
				continue;
			dwarf_getfuncs(cu, find_one, &fd, 0);
		}
	}
	return fd.ret;
}
