/* symidx_lines.c — a compilation unit's line table, compacted, and its file
 * names.  Exports the hl_line_idx_* functions of symidx.h.
 *
 * Why: libdw keeps every line table it reads at ~56 bytes a row for the
 * life of its Dwarf handle, and reads the whole table even for a file
 * name (dwarf_decl_file, dwarf_getsrcfiles).  A big interpreter loop
 * (python's ceval.c) has hundreds of thousands of rows: libpython's tables
 * alone took 32 MB.  Here a table is read through a short-lived Dwarf
 * handle on the same ELF, copied as 12-byte rows, and the handle ended.
 *
 * Exactness.  Lookups answer as dwarf_getsrc_die() (elfutils 0.188): the
 * last row at or below pc in libdw's sorted order, unless that row ends a
 * sequence.  Of several rows at one address only the last can be that row,
 * so only it is kept. */
#include <stdlib.h>
#include <string.h>

#include "symidx.h"

/* 12 bytes a row; a table whose values do not fit is left to libdw. */
struct row {
	uint32_t addr; /* minus the table's lowest address */
	uint32_t line;
	uint16_t file; /* into files[], NO_FILE if none */
	uint16_t col;  /* column << 1 | end_sequence */
};

#define NO_FILE UINT16_MAX
#define MAX_COL (UINT16_MAX >> 1)

struct hl_line_idx {
	struct row *rows;
	size_t nrows;
	Dwarf_Addr base;
	const char **files; /* interned names */
	size_t nfiles;
	bool has_table;
};

struct file_ptr {
	const char *name; /* as libdw handed it out: rows point at the same */
	uint32_t idx;
};

static int cmp_file_ptr(const void *a, const void *b)
{
	uintptr_t p = (uintptr_t)((const struct file_ptr *)a)->name;
	uintptr_t q = (uintptr_t)((const struct file_ptr *)b)->name;

	return (p > q) - (p < q);
}

/* The file index of a row's file name, by the pointer libdw keeps for both. */
static uint16_t file_of(const struct file_ptr *v, size_t n, const char *src)
{
	size_t lo = 0, hi = n;

	while (src && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].name == src)
			return v[mid].idx;
		if ((uintptr_t)v[mid].name < (uintptr_t)src)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NO_FILE;
}

struct hl_line_idx *hl_line_idx_new(Dwarf *dbg, Dwarf_Off cu_offset,
				    const char *(*intern)(void *ctx, const char *name), void *ctx)
{
	struct hl_line_idx *x = calloc(1, sizeof(*x));
	Dwarf *tmp;
	Dwarf_Die cu;
	Dwarf_Lines *lines;
	Dwarf_Files *files;
	size_t nlines, nfiles;
	struct file_ptr *byptr = NULL;
	Elf *elf = dwarf_getelf(dbg);

	if (!x)
		return NULL;
	/* A handle of our own: its tables go with it at dwarf_end(). */
	tmp = elf ? dwarf_begin_elf(elf, DWARF_C_READ, NULL) : NULL;
	if (!tmp) {
		free(x);
		return NULL;
	}
	if (dwarf_getalt(dbg))
		dwarf_setalt(tmp, dwarf_getalt(dbg));
	if (!dwarf_offdie(tmp, cu_offset, &cu))
		goto nomem;
	if (dwarf_getsrclines(&cu, &lines, &nlines) != 0 ||
	    dwarf_getsrcfiles(&cu, &files, &nfiles) != 0)
		goto out; /* no table: as libdw, no line and no file names */
	x->has_table = true;
	x->files = calloc(nfiles ? nfiles : 1, sizeof(*x->files));
	byptr = malloc((nfiles ? nfiles : 1) * sizeof(*byptr));
	x->rows = malloc((nlines ? nlines : 1) * sizeof(*x->rows));
	if (!x->files || !byptr || !x->rows || nfiles >= NO_FILE)
		goto nomem;
	x->nfiles = nfiles;
	for (size_t i = 0; i < nfiles; i++) {
		byptr[i].name = dwarf_filesrc(files, i, NULL, NULL);
		byptr[i].idx = i;
		x->files[i] = intern(ctx, byptr[i].name);
	}
	qsort(byptr, nfiles, sizeof(*byptr), cmp_file_ptr);
	for (size_t i = 0; i < nlines; i++) {
		Dwarf_Line *l = dwarf_onesrcline(lines, i);
		Dwarf_Addr addr, next;
		const char *src;
		int line = 0, col = 0;
		bool end = false;
		uint16_t f;

		if (!l || dwarf_lineaddr(l, &addr) != 0)
			goto nomem; /* cannot happen for i < nlines */
		/* Only the last of several rows at one address is ever found. */
		if (i + 1 < nlines && dwarf_lineaddr(dwarf_onesrcline(lines, i + 1), &next) == 0 &&
		    next == addr)
			continue;
		dwarf_lineendsequence(l, &end);
		if (dwarf_lineno(l, &line) != 0 || line < 0)
			line = 0;
		if (dwarf_linecol(l, &col) != 0 || col < 0)
			col = 0;
		src = dwarf_linesrc(l, NULL, NULL);
		f = file_of(byptr, nfiles, src);
		if (src && f == NO_FILE)
			goto nomem; /* a name outside the file table: not ours to guess */
		if (!x->nrows)
			x->base = addr; /* rows are sorted: the lowest */
		/* The search, and dropping repeats, assume sorted rows: libdw sorts. */
		if (addr - x->base > UINT32_MAX ||
		    (x->nrows && addr - x->base < x->rows[x->nrows - 1].addr) || col > MAX_COL)
			goto nomem;
		x->rows[x->nrows++] =
		    (struct row){addr - x->base, (uint32_t)line, f, col << 1 | end};
	}
	if (x->nrows < nlines) { /* give back what the repeated addresses left */
		struct row *v = realloc(x->rows, (x->nrows ? x->nrows : 1) * sizeof(*v));

		if (v)
			x->rows = v;
	}
	goto out;
nomem: /* or inexact: the caller falls back to libdw */
	free(x->rows);
	free(x->files);
	free(x);
	x = NULL;
out:
	free(byptr);
	dwarf_end(tmp);
	return x;
}

void hl_line_idx_free(struct hl_line_idx *x)
{
	if (!x)
		return;
	free(x->rows);
	free(x->files);
	free(x);
}

bool hl_line_idx_lookup(const struct hl_line_idx *x, Dwarf_Addr pc, struct hl_line *out)
{
	size_t l = 0, u;

	if (!x->nrows)
		return false;
	u = x->nrows - 1;
	if (pc < x->base)
		return false; /* below every row, as libdw finds */
	pc -= x->base;
	if (pc > UINT32_MAX)
		pc = UINT32_MAX; /* beyond every row: the last one decides */
	while (l < u) {		 /* dwarf_getsrc_die's search: the last row <= pc */
		size_t idx = u - (u - l) / 2;

		if (pc < x->rows[idx].addr)
			u = idx - 1;
		else
			l = idx;
	}
	if ((x->rows[l].col & 1) || x->rows[l].addr > pc)
		return false;
	out->file = x->rows[l].file == NO_FILE ? NULL : x->files[x->rows[l].file];
	out->line = (int)x->rows[l].line;
	out->column = x->rows[l].col >> 1;
	return true;
}

const char *hl_line_idx_file(const struct hl_line_idx *x, uint64_t idx)
{
	return idx < x->nfiles ? x->files[idx] : NULL;
}

bool hl_line_idx_has_table(const struct hl_line_idx *x)
{
	return x->has_table;
}
