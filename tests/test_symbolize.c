/* test_symbolize.c — the symbolizer names the lines that called malloc.
 * This program captures real return addresses of malloc calls (it interposes
 * malloc, as libheapline does), describes its own modules the way a trace
 * does (dl_iterate_phdr: bias, address range, build-id), and checks the
 * frames: plain and inlined calls in a -g -O1 shared library, a call in the
 * PIE executable, a dlopen'd library without DWARF (symbol+offset), a module
 * whose file is gone, odd or has another build-id (module+offset), a module
 * unloaded before resolving, function line ranges, and finding functions by
 * glob.  Then that the symbolizer's indexes (symidx.h) answer as the libdw
 * and libdwfl calls they replace, address by address, on the fixture, this
 * program and libc.  Exit 0 pass, 1 fail, 77 skip. */
#include <dlfcn.h>
#include <dwarf.h>
#include <elf.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "symbolize.h"
#include "symbolize_fixture.h"
#include "symidx.h"
#include "trace_read.h"

/* ---- capturing malloc's return address ------------------------------- */

static int capturing;
static void *captured;

/* noinline: inlined into local_alloc, it would see local_alloc's caller. */
__attribute__((noinline)) void *malloc(size_t n)
{
	if (capturing) {
		captured = __builtin_return_address(0);
		capturing = 0;
	}
	/* calloc, not __libc_malloc: valgrind replaces calloc too, so its
	 * free still matches under valgrind. */
	return calloc(1, n);
}

#define CAPTURE(call)                                                                              \
	({                                                                                         \
		captured = NULL;                                                                   \
		capturing = 1;                                                                     \
		free(call);                                                                        \
		capturing = 0;                                                                     \
		(uint64_t)(uintptr_t) captured;                                                    \
	})

static int local_line;

__attribute__((noinline)) void *local_alloc(size_t n)
{
	void *p = (local_line = __LINE__, malloc(n));

	__asm__ volatile("" : : "r"(p) : "memory"); /* no tail call */
	return p;
}

static void *qsort_ra;

static int qsort_cmp(const void *a, const void *b)
{
	qsort_ra = __builtin_return_address(0);
	return *(const int *)a - *(const int *)b;
}

/* ---- the process's modules, as a trace records them ------------------- */

struct mod {
	struct hl_module m;
	char path[PATH_MAX];
	uint8_t build_id[64];
};

static struct mod mods[256];
static size_t nmods;

static void read_build_id(struct dl_phdr_info *info, const ElfW(Phdr) * ph, struct mod *md)
{
	const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
	const char *end = p + ph->p_memsz;

	while (p + sizeof(ElfW(Nhdr)) <= end) {
		const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
		const char *name = p + sizeof(*nh);
		const char *desc = name + ((nh->n_namesz + 3) & ~3u);

		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
		    nh->n_descsz <= sizeof(md->build_id)) {
			memcpy(md->build_id, desc, nh->n_descsz);
			md->m.build_id = md->build_id;
			md->m.build_id_len = nh->n_descsz;
			return;
		}
		p = desc + ((nh->n_descsz + 3) & ~3u);
	}
}

static int add_phdr(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct mod *md = &mods[nmods];
	uint64_t lo = UINT64_MAX, hi = 0;

	if (nmods == sizeof(mods) / sizeof(mods[0]))
		return 1;
	memset(md, 0, sizeof(*md));
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t a = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD) {
			if (a < lo)
				lo = a;
			if (a + ph->p_memsz > hi)
				hi = a + ph->p_memsz;
		} else if (ph->p_type == PT_NOTE && !md->m.build_id_len) {
			read_build_id(info, ph, md);
		}
	}
	if (hi == 0)
		return 0;
	if (info->dlpi_name && info->dlpi_name[0]) {
		snprintf(md->path, sizeof(md->path), "%s", info->dlpi_name);
	} else { /* the main program */
		ssize_t n = readlink("/proc/self/exe", md->path, sizeof(md->path) - 1);

		md->path[n > 0 ? n : 0] = 0;
	}
	md->m.id = nmods + 1;
	md->m.bias = info->dlpi_addr;
	md->m.lo = lo;
	md->m.hi = hi;
	md->m.path = md->path;
	nmods++;
	return 0;
}

static const struct mod *mod_named(const char *glob)
{
	for (size_t i = 0; i < nmods; i++)
		if (fnmatch(glob, mods[i].path, 0) == 0)
			return &mods[i];
	return NULL;
}

/* ---- checks -------------------------------------------------------------- */



static const char *str(const char *s)
{
	return s ? s : "(null)";
}

static const char *base(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	return s ? s + 1 : path ? path : "(null)";
}

static void print_frames(const char *what, const struct hl_frame *f, int n)
{
	printf("%s:\n", what);
	for (int i = 0; i < n; i++)
		printf("  #%d %s+0x%llx  %s:%u:%u  %s+0x%llx%s\n", i,
		       f[i].function ? f[i].function : "??", (unsigned long long)f[i].symbol_offset,
		       f[i].file ? f[i].file : "??", f[i].line, f[i].column,
		       f[i].module ? base(f[i].module) : "?", (unsigned long long)f[i].offset,
		       f[i].inlined ? "  (inlined)" : "");
}

static bool streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = s ? strlen(s) : 0, k = strlen(tail);

	return n >= k && !strcmp(s + n - k, tail);
}

/* last_min < last: an always-inlined function has no epilogue, so its code
 * may end before its closing brace; any line from last_min to last will do. */
static void check_lines(struct hl_symbolizer *s, const struct hl_frame *f, const char *name,
			unsigned first, unsigned last_min, unsigned last)
{
	struct hl_func_lines fl;

	CHECK(f->func, "%s has no function handle", name);
	if (!f->func)
		return;
	hl_symbolizer_function_lines(s, f->func, &fl);
	printf("  %s: %s lines %u-%u\n", str(fl.name), base(fl.file), fl.first, fl.last);
	CHECK(streq(fl.name, name), "%s", str(fl.name));
	CHECK(streq(base(fl.file), "symbolize_fixture_lib.c"), "%s", str(fl.file));
	CHECK(fl.first == first, "%s first %u, want %u", name, fl.first, first);
	CHECK(fl.last >= last_min && fl.last <= last, "%s last %u, want %u..%u", name, fl.last,
	      last_min, last);
}

struct found {
	struct hl_symbolizer *s;
	const char *names[16];
	int n;
};

static int collect(void *ctx, const struct hl_sym_func *f)
{
	struct found *fd = ctx;
	struct hl_func_lines fl;

	hl_symbolizer_function_lines(fd->s, f, &fl);
	if (fd->n < 16)
		fd->names[fd->n] = fl.name;
	fd->n++;
	return 0;
}

static bool found_has(const struct found *fd, const char *name)
{
	for (int i = 0; i < fd->n && i < 16; i++)
		if (streq(fd->names[i], name))
			return true;
	return false;
}

/* ---- the indexes against libdw ------------------------------------------- */

struct idx_stats {
	long sym_probes, sym_decided, sizeless_decided, pcs, pcs_decided, lines, decls;
};

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || streq(a, b);
}

/* The line index's names, kept until the end. */
static char *names[65536];
static size_t nnames;

static const char *keep_name(void *ctx, const char *name)
{
	(void)ctx;
	if (!name || nnames == sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[nnames++] = strdup(name);
}

/* hl_symtab_idx_lookup() against dwfl_module_addrinfo() around a symbol. */
static void check_symtab_near(Dwfl_Module *dm, struct hl_symtab_idx *x, GElf_Addr v,
			      GElf_Xword size, struct idx_stats *st)
{
	GElf_Addr probes[] = {v - 1, v, v + 1, v + size / 2, v + size - 1, v + size, v + size + 1};

	for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
		GElf_Off off = 0, xoff = 0;
		GElf_Sym sym;
		const char *name, *xname = NULL;
		int r = hl_symtab_idx_lookup(x, probes[k], &xname, &xoff);

		st->sym_probes++;
		if (r < 0)
			continue;
		st->sym_decided++;
		if (!size && probes[k] > v)
			st->sizeless_decided++;
		name = dwfl_module_addrinfo(dm, probes[k], &off, &sym, NULL, NULL, NULL);
		CHECK(r == (name != NULL) && (!name || (name == xname && off == xoff)),
		      "symbol at %#llx: %s+%#llx, index %s+%#llx", (unsigned long long)probes[k],
		      str(name), (unsigned long long)off, r ? str(xname) : "(null)",
		      (unsigned long long)xoff);
	}
}

/* One pc: the scope chain against dwarf_getscopes()/dwarf_getscopes_die(),
 * the line against dwarf_getsrc_die(). */
static void check_pc(Dwarf_Die *cu, struct hl_scope_idx *sx, struct hl_line_idx *lx, Dwarf_Addr pc,
		     struct idx_stats *st)
{
	static Dwarf_Die chain[HL_SCOPE_MAX];
	Dwarf_Die *scopes = NULL;
	Dwarf_Line *l = dwarf_getsrc_die(cu, pc);
	struct hl_line hl;
	bool found = hl_line_idx_lookup(lx, pc, &hl);
	int n = hl_scope_idx_lookup(sx, pc, chain), want;

	st->pcs++;
	if (n >= 0) {
		st->pcs_decided++;
		want = dwarf_getscopes(cu, pc, &scopes);
		if (want > 0) {
			Dwarf_Die inner = scopes[0];

			free(scopes);
			scopes = NULL;
			want = dwarf_getscopes_die(&inner, &scopes) - 1; /* without the CU */
		}
		if (want < 0)
			want = 0;
		CHECK(n == want, "pc %#llx: %d scopes, libdw %d", (unsigned long long)pc, n, want);
		for (int i = 0; i < n && i < want; i++)
			CHECK(chain[i].addr == scopes[i].addr, "pc %#llx: scope %d differs",
			      (unsigned long long)pc, i);
		free(scopes);
	}
	st->lines++;
	CHECK(found == (l != NULL), "pc %#llx: line found %d", (unsigned long long)pc, found);
	if (found && l) {
		int line, col;

		if (dwarf_lineno(l, &line) != 0 || line < 0)
			line = 0;
		if (dwarf_linecol(l, &col) != 0 || col < 0)
			col = 0;
		CHECK(same_str(hl.file, dwarf_linesrc(l, NULL, NULL)) && hl.line == line &&
			  hl.column == col,
		      "pc %#llx: %s:%d:%d, libdw %s:%d:%d", (unsigned long long)pc, str(hl.file),
		      hl.line, hl.column, str(dwarf_linesrc(l, NULL, NULL)), line, col);
	}
}

/* dwarf_decl_file() of every DIE below die: the index from DW_AT_decl_file
 * (integrated), 0 none, looked up in the unit's file table. */
static void check_decl_files(Dwarf_Die *die, struct hl_line_idx *lx, struct idx_stats *st)
{
	Dwarf_Die c;

	if (dwarf_child(die, &c) != 0)
		return;
	do {
		Dwarf_Attribute a;
		Dwarf_Word idx;

		if (dwarf_attr_integrate(&c, DW_AT_decl_file, &a)) {
			const char *got = NULL;

			if (dwarf_formudata(&a, &idx) == 0 && idx != 0 && hl_line_idx_has_table(lx))
				got = hl_line_idx_file(lx, idx);
			st->decls++;
			CHECK(same_str(got, dwarf_decl_file(&c)),
			      "decl_file of DIE %#llx: %s, libdw %s",
			      (unsigned long long)dwarf_dieoffset(&c), str(got),
			      str(dwarf_decl_file(&c)));
		}
		check_decl_files(&c, lx, st);
	} while (dwarf_siblingof(&c, &c) == 0);
}

/* Every index of one module against libdw, at every stride-th pc of its
 * units and around every stride-th symbol (libdwfl scans all symbols for
 * each answer: on libc, one in each symbol is plenty). */
static void check_indexes(const struct mod *md, unsigned stride, struct idx_stats *st)
{
	static char *debuginfo_path;
	static const Dwfl_Callbacks cb = {
	    .find_elf = dwfl_build_id_find_elf,
	    .find_debuginfo = dwfl_standard_find_debuginfo,
	    .section_address = dwfl_offline_section_address,
	    .debuginfo_path = &debuginfo_path,
	};
	Dwfl *dwfl = dwfl_begin(&cb);
	Dwfl_Module *dm;
	struct hl_symtab_idx *x;
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias;
	int nsyms;

	dwfl_report_begin(dwfl);
	dm = dwfl_report_elf(dwfl, md->path, md->path, -1, md->m.bias, true);
	dwfl_report_end(dwfl, NULL, NULL);
	CHECK(dm, "%s: cannot open", md->path);
	if (!dm) {
		dwfl_end(dwfl);
		return;
	}
	x = hl_symtab_idx_new(dm);
	nsyms = dwfl_module_getsymtab(dm);
	CHECK(x || nsyms <= 0, "%s: no symbol table index", md->path);
	for (int i = 1; x && i < nsyms; i += stride) {
		GElf_Sym sym;
		GElf_Addr v;

		if (dwfl_module_getsym_info(dm, i, &sym, &v, NULL, NULL, NULL))
			check_symtab_near(dm, x, v, sym.st_size, st);
	}
	hl_symtab_idx_free(x);
	while ((cu = dwfl_module_nextcu(dm, cu, &bias))) {
		struct hl_scope_idx *sx = hl_scope_idx_new(cu);
		struct hl_line_idx *lx = hl_line_idx_new(dwarf_cu_getdwarf(cu->cu),
							 dwarf_dieoffset(cu), keep_name, NULL);
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;

		CHECK(sx && lx, "%s: unit %#llx not indexed", md->path,
		      (unsigned long long)dwarf_dieoffset(cu));
		while (sx && lx && (off = dwarf_ranges(cu, off, &base, &lo, &hi)) > 0)
			for (Dwarf_Addr pc = lo; pc < hi; pc += stride)
				check_pc(cu, sx, lx, pc, st);
		if (lx)
			check_decl_files(cu, lx, st);
		hl_scope_idx_free(sx);
		hl_line_idx_free(lx);
	}
	dwfl_end(dwfl);
}

int main(void)
{
	struct hl_symbolizer *s;
	const struct hl_frame *f;
	const struct mod *fix, *exe, *libc;
	uint64_t ip_direct, ip_inlined, ip_local, ip_nd, ip_libc, ip_lto, nd_symoff = 0;
	void *nd;
	void *(*nd_alloc)(size_t);
	int n, arr[64];
	char *d;

	/* The dlopen'd module without DWARF. */
	nd = dlopen(HL_FIX_NODEBUG, RTLD_NOW);
	if (!nd || !(nd_alloc = (void *(*)(size_t))dlsym(nd, "hl_fixnd_alloc"))) {
		fprintf(stderr, "dlopen %s: %s\n", HL_FIX_NODEBUG, str(dlerror()));
		return 1;
	}

	ip_direct = CAPTURE(hl_fix_direct(10));
	ip_inlined = CAPTURE(hl_fix_inlined(10));
	ip_local = CAPTURE(local_alloc(10));
	ip_nd = CAPTURE(nd_alloc(10));
	ip_lto = CAPTURE(hl_fixlto_outer(10));
	for (int i = 0; i < 64; i++)
		arr[i] = (i * 37) % 64;
	qsort(arr, 64, sizeof(arr[0]), qsort_cmp);
	ip_libc = (uint64_t)(uintptr_t)qsort_ra;

	if (!ip_direct || ip_direct == ip_inlined) {
		fprintf(stderr, "malloc is not interposed (valgrind?): skipped\n");
		return 77;
	}

	dl_iterate_phdr(add_phdr, NULL);
	fix = mod_named("*/libhlsymfix.so");
	exe = &mods[0];
	libc = mod_named("*/libc.so*");
	if (!exe->path[0]) {
		fprintf(stderr, "cannot name the executable (/proc?): skipped\n");
		return 77;
	}
	CHECK(fix && libc, "fixture or libc not among %zu modules", nmods);
	if (!fix || !libc)
		return 1;

	s = hl_symbolizer_new();
	CHECK(s, "hl_symbolizer_new");
	if (!s)
		return 1;
	for (size_t i = 0; i < nmods; i++)
		CHECK(hl_symbolizer_add_module(s, &mods[i].m) == 0, "add %s", mods[i].path);
	CHECK(hl_symbolizer_add_module(s, &mods[0].m) == -EEXIST, "duplicate id");

	/* A call inlined at link time from another unit (-flto): its abstract
	 * definition is in that unit, where libdw's dwarf_getscopes() finds no
	 * scope.  The helper, inlined, then the function at the call. */
	n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, ip_lto, &f);
	print_frames("inlined from another unit (LTO)", f, n);
	CHECK(n == 2 && streq(f[0].function, "fixlto_helper") && f[0].inlined &&
		  ends_with(f[0].file, "/symbolize_fixture_lto_b.c") &&
		  f[0].line == (unsigned)hl_fixlto_line[HL_FIXLTO_MALLOC] &&
		  streq(f[1].function, "hl_fixlto_outer") && !f[1].inlined &&
		  ends_with(f[1].file, "/symbolize_fixture_lto_a.c") &&
		  f[1].line == (unsigned)hl_fixlto_line[HL_FIXLTO_CALL],
	      "want fixlto_helper (inlined) at lto_b.c:%d, hl_fixlto_outer at lto_a.c:%d",
	      hl_fixlto_line[HL_FIXLTO_MALLOC], hl_fixlto_line[HL_FIXLTO_CALL]);

	/* A plain call, in a shared library. */
	CHECK(hl_symbolizer_module_at(s, ip_direct) == fix->m.id, "module_at");
	n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, ip_direct, &f);
	print_frames("direct", f, n);
	CHECK(n == 1, "%d frames", n);
	if (n >= 1) {
		CHECK(streq(f[0].function, "hl_fix_direct"), "%s", str(f[0].function));
		CHECK(streq(base(f[0].file), "symbolize_fixture_lib.c"), "%s", str(f[0].file));
		CHECK(f[0].file && f[0].file[0] == '/', "not absolute: %s", str(f[0].file));
		CHECK(f[0].line == (unsigned)hl_fix_line[HL_FIX_DIRECT_MALLOC], "line %u, want %d",
		      f[0].line, hl_fix_line[HL_FIX_DIRECT_MALLOC]);
		CHECK(!f[0].inlined, "inlined");
		CHECK(f[0].module == fix->m.path || streq(f[0].module, fix->path), "%s",
		      str(f[0].module));
		CHECK(f[0].module_id == fix->m.id, "module id");
		CHECK(f[0].offset == ip_direct - fix->m.bias, "offset");
		check_lines(s, &f[0], "hl_fix_direct", hl_fix_line[HL_FIX_DIRECT_FIRST],
			    hl_fix_line[HL_FIX_DIRECT_LAST], hl_fix_line[HL_FIX_DIRECT_LAST]);
	}
	/* Cached: the same array comes back. */
	{
		const struct hl_frame *again;

		CHECK(hl_symbolizer_resolve(s, fix->m.id, ip_direct, &again) == n && again == f,
		      "not cached");
	}

	/* The executable itself (PIE: bias nonzero). */
	n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, ip_local, &f);
	print_frames("executable", f, n);
	CHECK(n == 1 && streq(f[0].function, "local_alloc") &&
		  streq(base(f[0].file), "test_symbolize.c") && f[0].line == (unsigned)local_line,
	      "want local_alloc test_symbolize.c:%d", local_line);

	/* dlopen'd, no DWARF: symbol table. */
	n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, ip_nd, &f);
	print_frames("no debug info", f, n);
	CHECK(n == 1 && streq(f[0].function, "hl_fixnd_alloc") && !f[0].file && !f[0].line &&
		  f[0].symbol_offset > 0 && !f[0].func,
	      "want hl_fixnd_alloc+0xN without a file");
	nd_symoff = f[0].symbol_offset;

	/* libc: separate debug file by build-id, when libc6-dbg is installed. */
	n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, ip_libc, &f);
	print_frames("libc (qsort -> comparator)", f, n);
	CHECK(n >= 1 && f[n - 1].function && f[n - 1].module_id == libc->m.id, "libc frame");
	if (libc->m.build_id_len) {
		char dbg[PATH_MAX];
		size_t k = snprintf(dbg, sizeof(dbg), "/usr/lib/debug/.build-id/%02x/",
				    libc->m.build_id[0]);
		struct stat st;

		for (size_t i = 1; i < libc->m.build_id_len; i++)
			k += snprintf(dbg + k, sizeof(dbg) - k, "%02x", libc->m.build_id[i]);
		snprintf(dbg + k, sizeof(dbg) - k, ".debug");
		if (stat(dbg, &st) == 0)
			CHECK(n >= 1 && f[0].file && f[0].line > 0, "no line from %s", dbg);
		else
			printf("  (no %s: libc lines not checked)\n", dbg);
	}

	/* A module whose file is gone: module+offset. */
	{
		struct hl_module gone = {.id = 1000,
					 .bias = 0x100000000000,
					 .lo = 0x100000000000,
					 .hi = 0x100000010000,
					 .path = "/nonexistent/libgone.so"};

		CHECK(hl_symbolizer_add_module(s, &gone) == 0, "add gone");
		CHECK(hl_symbolizer_module_at(s, gone.lo + 0x1234) == 1000, "module_at gone");
		n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, gone.lo + 0x1234, &f);
		print_frames("missing file", f, n);
		CHECK(n == 1 && !f[0].function && !f[0].file && f[0].offset == 0x1234 &&
			  streq(f[0].module, "/nonexistent/libgone.so"),
		      "want libgone.so+0x1234");
		/* Outside every module. */
		CHECK(hl_symbolizer_module_at(s, 0x10) == HL_SYM_NO_MODULE, "module_at 0x10");
		n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, 0x10, &f);
		CHECK(n == 1 && !f[0].module && f[0].offset == 0x10 &&
			  f[0].module_id == HL_SYM_NO_MODULE,
		      "want bare 0x10");
		CHECK(hl_symbolizer_resolve(s, 4242, 0x10, &f) == -ENOENT, "unknown id");
	}

	/* Odd files where a module should be: garbage with an ELF magic, a
	 * truncated library, a directory, a FIFO (which must not hang us). */
	{
		char dir[] = "/tmp/hl_symtest.XXXXXX", garbage[PATH_MAX], cut[PATH_MAX],
		     fifo[PATH_MAX], root[] = "/";
		char *paths[] = {garbage, cut, root, fifo};
		unsigned char junk[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
		char buf[1000];
		FILE *in, *out;
		size_t k;

		CHECK(mkdtemp(dir), "mkdtemp");
		snprintf(garbage, sizeof(garbage), "%s/garbage.so", dir);
		snprintf(cut, sizeof(cut), "%s/cut.so", dir);
		snprintf(fifo, sizeof(fifo), "%s/fifo.so", dir);
		for (size_t i = 7; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(i * 151);
		out = fopen(garbage, "w");
		if (out) {
			fwrite(junk, 1, sizeof(junk), out);
			fclose(out);
		}
		in = fopen(fix->path, "r");
		out = fopen(cut, "w");
		if (in && out) {
			k = fread(buf, 1, sizeof(buf), in);
			fwrite(buf, 1, k, out);
		}
		if (in)
			fclose(in);
		if (out)
			fclose(out);
		CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
		for (size_t i = 0; i < 4; i++) {
			struct hl_module odd = {.id = 1100 + i,
						.bias = 0x300000000000 + i * 0x100000,
						.path = paths[i]};

			odd.lo = odd.bias;
			odd.hi = odd.bias + 0x10000;
			CHECK(hl_symbolizer_add_module(s, &odd) == 0, "add %s", paths[i]);
			n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, odd.bias + 0x1112, &f);
			CHECK(n == 1 && f[0].module_id == odd.id && f[0].offset == 0x1112 &&
				  !f[0].file,
			      "odd file %s", paths[i]);
		}
		unlink(garbage);
		unlink(cut);
		unlink(fifo);
		rmdir(dir);
	}

	/* The fixture again, elsewhere (as if dlclose'd and dlopen'd at a new
	 * address): once with its build-id, once with a wrong one. */
	{
		struct hl_module moved = fix->m, changed = fix->m;
		uint8_t bad[64];
		uint64_t shift = 0x200000000000 - fix->m.bias;

		moved.id = 3000;
		moved.bias += shift;
		moved.lo += shift;
		moved.hi += shift;
		CHECK(hl_symbolizer_add_module(s, &moved) == 0, "add moved");
		n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, ip_direct + shift, &f);
		print_frames("moved", f, n);
		CHECK(n == 1 && streq(f[0].function, "hl_fix_direct") && f[0].module_id == 3000 &&
			  f[0].line == (unsigned)hl_fix_line[HL_FIX_DIRECT_MALLOC],
		      "moved module");
		CHECK(hl_symbolizer_unload_module(s, 3000) == 0, "unload moved");

		memcpy(bad, fix->m.build_id, fix->m.build_id_len);
		bad[0] ^= 0xff;
		changed.id = 2000;
		changed.build_id = bad;
		changed.bias += shift;
		changed.lo += shift;
		changed.hi += shift;
		CHECK(fix->m.build_id_len > 0, "fixture has no build-id");
		CHECK(hl_symbolizer_add_module(s, &changed) == 0, "add changed");
		fprintf(stderr, "(a build-id warning for libhlsymfix.so is expected next)\n");
		n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, ip_direct + shift, &f);
		print_frames("build-id mismatch", f, n);
		CHECK(n == 1 && f[0].module_id == 2000 && !f[0].function && !f[0].file &&
			  f[0].offset == ip_direct - fix->m.bias,
		      "want libhlsymfix.so+offset");
	}

	/* Unloaded before its first lookup: still resolves by id. */
	CHECK(hl_symbolizer_unload_module(s, fix->m.id) == 0, "unload");
	CHECK(hl_symbolizer_unload_module(s, 5555) == -ENOENT, "unload unknown");
	CHECK(hl_symbolizer_module_at(s, ip_inlined) == HL_SYM_NO_MODULE, "module_at unloaded");
	n = hl_symbolizer_resolve(s, fix->m.id, ip_inlined, &f);
	print_frames("inlined (module unloaded)", f, n);
	CHECK(n == 2, "%d frames", n);
	if (n == 2) {
		CHECK(streq(f[0].function, "fix_helper") && f[0].inlined &&
			  streq(base(f[0].file), "symbolize_fixture_lib.c") &&
			  f[0].line == (unsigned)hl_fix_line[HL_FIX_HELPER_MALLOC],
		      "want fix_helper :%d inlined", hl_fix_line[HL_FIX_HELPER_MALLOC]);
		CHECK(streq(f[1].function, "hl_fix_inlined") && !f[1].inlined &&
			  streq(base(f[1].file), "symbolize_fixture_lib.c") &&
			  f[1].line == (unsigned)hl_fix_line[HL_FIX_INLINED_CALL],
		      "want hl_fix_inlined :%d", hl_fix_line[HL_FIX_INLINED_CALL]);
		CHECK(f[0].offset == f[1].offset, "offsets differ");
		check_lines(s, &f[0], "fix_helper", hl_fix_line[HL_FIX_HELPER_FIRST],
			    hl_fix_line[HL_FIX_HELPER_MALLOC] + 2, hl_fix_line[HL_FIX_HELPER_LAST]);
		check_lines(s, &f[1], "hl_fix_inlined", hl_fix_line[HL_FIX_INLINED_FIRST],
			    hl_fix_line[HL_FIX_INLINED_LAST], hl_fix_line[HL_FIX_INLINED_LAST]);
	}

	/* Finding functions by glob. */
	{
		struct found fd = {.s = s};

		hl_symbolizer_find_functions(s, "hl_fix_*", "symbolize_fixture_lib.c", collect,
					     &fd);
		CHECK(fd.n == 2 && found_has(&fd, "hl_fix_direct") &&
			  found_has(&fd, "hl_fix_inlined"),
		      "found %d by name", fd.n);
		memset(&fd, 0, sizeof(fd));
		fd.s = s;
		hl_symbolizer_find_functions(s, NULL, "tests/symbolize_fixture_lib.c", collect,
					     &fd);
		CHECK(fd.n == 3 && found_has(&fd, "fix_helper"), "found %d by file", fd.n);
		memset(&fd, 0, sizeof(fd));
		fd.s = s;
		hl_symbolizer_find_functions(s, "hl_fix_direct", NULL, collect, &fd);
		CHECK(fd.n == 1, "found %d by name alone", fd.n);
		memset(&fd, 0, sizeof(fd));
		fd.s = s;
		hl_symbolizer_find_functions(s, "no_such_function_*", NULL, collect, &fd);
		CHECK(fd.n == 0, "found %d nonexistent", fd.n);
	}

	/* The indexes answer as libdw: every pc of the fixture, every 7th of
	 * this program, every 4999th of libc (with its debug information, if
	 * installed); libdw's own answers are the slow part. */
	{
		struct idx_stats st = {0};

		check_indexes(fix, 1, &st);
		check_indexes(exe, 7, &st);
		CHECK(st.pcs_decided > 1000 && st.pcs_decided == st.pcs && st.decls > 100,
		      "%ld of %ld pcs decided, %ld decl_files", st.pcs_decided, st.pcs, st.decls);
		check_indexes(mod_named("*/libhlsymfix_nodebug.so"), 1, &st);
		check_indexes(libc, 4999, &st);
		printf("indexes: %ld of %ld symbol probes, %ld of %ld pcs decided by the index, "
		       "%ld lines, %ld decl_files: as libdw\n",
		       st.sym_decided, st.sym_probes, st.pcs_decided, st.pcs, st.lines, st.decls);
		CHECK(st.sym_decided > st.sym_probes / 4, "%ld of %ld symbol probes decided",
		      st.sym_decided, st.sym_probes);
		/* hl_fixnd_label + 1 and + 2 at least */
		CHECK(st.sizeless_decided >= 2, "%ld probes past sizeless labels decided",
		      st.sizeless_decided);
		for (size_t i = 0; i < nnames; i++)
			free(names[i]);
	}

	/* The demangler. */
	d = hl_demangle("_ZN2ns3fooEi");
	CHECK(streq(d, "ns::foo(int)"), "%s", str(d));
	free(d);
	CHECK(hl_demangle("main") == NULL && hl_demangle("i") == NULL, "plain names");
	{
		/* C++ as libstdc++ prints it; Rust's legacy scheme without its
		 * hash and with its $-escapes undone, and its v0 scheme */
		static const char *const cases[][2] = {
		    {"_ZNSt6vectorIiSaIiEE9push_backERKi",
		     "std::vector<int, std::allocator<int> >::push_back(int const&)"},
		    {"_ZN9hashbrown3raw21RawTable$LT$T$C$A$GT$14reserve_rehash17hca0f02aa33451b57E",
		     "hashbrown::raw::RawTable<T,A>::reserve_rehash"},
		    {"_ZN3std2rt10lang_start17h0123456789abcdefE", "std::rt::lang_start"},
		    {"_RNvNtCs1234_7mycrate3foo3bar", "mycrate::foo::bar"},
		    {"_RNvMs0_NtNtNtCsjrHSEGnQ3l9_3std3sys6thread4unixNtB5_6Thread3new",
		     "<std::sys::thread::unix::Thread>::new"},
		    {"_ZN4core3ops8function6FnOnce40call_once$u7b$$u7b$vtable.shim$u7d$$u7d$"
		     "17h7655c1afea20f557E",
		     "core::ops::function::FnOnce::call_once{{vtable.shim}}"},
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			d = hl_demangle(cases[i][0]);
			CHECK(streq(d, cases[i][1]), "%s: %s", cases[i][0], str(d));
			free(d);
		}
		CHECK(hl_demangle("_R") == NULL && hl_demangle("_Rfoo") == NULL &&
			  hl_demangle("_Z") == NULL,
		      "malformed names");
	}

	hl_symbolizer_destroy(s);

	/* A later symbolizer takes the idle sessions of this one (as `heapline
	 * report` of several traces does), the same files loaded elsewhere. */
	{
		const struct mod *ndm = mod_named("*/libhlsymfix_nodebug.so");
		struct hl_module fm = fix->m, nm = ndm ? ndm->m : fix->m;
		uint64_t shift = 0x300000000000 - fix->m.bias, nshift = 0x310000000000 - nm.bias;

		s = hl_symbolizer_new();
		CHECK(s && ndm, "second symbolizer");
		if (!s || !ndm)
			return 1;
		fm.bias += shift;
		fm.lo += shift;
		fm.hi += shift;
		nm.bias += nshift;
		nm.lo += nshift;
		nm.hi += nshift;
		CHECK(hl_symbolizer_add_module(s, &fm) == 0 &&
			  hl_symbolizer_add_module(s, &nm) == 0,
		      "add to the second symbolizer");
		n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, ip_inlined + shift, &f);
		print_frames("inlined (second symbolizer, moved)", f, n);
		CHECK(n == 2 && streq(f[0].function, "fix_helper") && f[0].inlined &&
			  f[0].line == (unsigned)hl_fix_line[HL_FIX_HELPER_MALLOC] &&
			  streq(f[1].function, "hl_fix_inlined") &&
			  f[1].line == (unsigned)hl_fix_line[HL_FIX_INLINED_CALL] &&
			  f[1].offset == ip_inlined - fix->m.bias,
		      "want fix_helper inlined into hl_fix_inlined, as the first time");
		if (n == 2)
			check_lines(s, &f[0], "fix_helper", hl_fix_line[HL_FIX_HELPER_FIRST],
				    hl_fix_line[HL_FIX_HELPER_MALLOC] + 2,
				    hl_fix_line[HL_FIX_HELPER_LAST]);
		n = hl_symbolizer_resolve(s, HL_SYM_CURRENT, ip_nd + nshift, &f);
		print_frames("no debug info (second symbolizer, moved)", f, n);
		CHECK(n == 1 && streq(f[0].function, "hl_fixnd_alloc") &&
			  f[0].symbol_offset == nd_symoff,
		      "want hl_fixnd_alloc+%#llx", (unsigned long long)nd_symoff);
		hl_symbolizer_destroy(s);
	}
	dlclose(nd);
	printf("%s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
