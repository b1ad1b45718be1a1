/* linetable.h — the line-by-line table of SPEC ("The line-by-line table"):
 * picks the functions (--function globs, the functions of --file, or the
 * program's own functions that allocated the most, inclusive), sums each
 * stack node's numbers into the source lines its stack passes through in
 * those functions, and prints memory_profiler's table or its JSON.
 *
 * Per line, over the allocator calls whose stack passes through it (each
 * call counted once per line, however deep the recursion):
 *   Increment   = bytes allocated - bytes freed
 *   Occurrences = allocations + frees
 *   Mem usage   = the largest live heap just after such a call
 * plus the optional columns leaked (allocated there, live at exit), peak
 * (allocated there, live at the global peak) and frees (free calls). */
#ifndef HL_LINETABLE_H
#define HL_LINETABLE_H

#include <stdio.h>

#include "aggregate.h"
#include "format.h"
#include "json.h"
#include "stacks.h"

/* Extra columns (--columns). */
#define HL_COL_LEAKED 0x1u
#define HL_COL_PEAK   0x2u
#define HL_COL_FREES  0x4u

struct hl_linetable_opts {
	const char *const *functions; /* --function globs (fnmatch on the name) */
	size_t nfunctions;
	const char *file;	/* --file: functions defined there with activity */
	unsigned ntop;		/* otherwise: this many own functions, most bytes first */
	const char *source_dir; /* --source-dir: where to look for sources first */
};

struct hl_linetables;

/* Picks the functions and fills their tables.  Says on stderr when a
 * --function or --file matched nothing.  0 or -errno. */
int hl_linetables_build(struct hl_linetables **out, struct hl_stacks *st, const struct hl_agg *a,
			const struct hl_linetable_opts *o);
void hl_linetables_free(struct hl_linetables *lt);

void hl_linetables_print_text(FILE *f, const struct hl_linetables *lt, unsigned columns,
			      enum hl_unit unit, int precision);
/* An array of tables (docs/report-json.md, "line_tables"). */
void hl_linetables_print_json(struct hl_json *j, const struct hl_linetables *lt, int with_peak);

#endif
