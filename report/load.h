/* load.h — one trace through the report pipeline's stages (read, replay,
 * aggregate, peak snapshot, symbols, sites, line tables), as far as the
 * caller asks.  Shared by `heapline report` and `heapline diff`. */
#ifndef HL_LOAD_H
#define HL_LOAD_H

#include <stddef.h>

#include "aggregate.h"
#include "linetable.h"
#include "replay.h"
#include "sites.h"
#include "stacks.h"
#include "trace_read.h"

/* What to build; each brings what it depends on. */
#define HL_LOAD_AGG    0x1u  /* per-node sums, histogram, timeline */
#define HL_LOAD_SITES  0x2u  /* symbolized sites (with HL_LOAD_AGG) */
#define HL_LOAD_PEAK   0x4u  /* the peak snapshot (second pass only for a broken trace) */
#define HL_LOAD_LINES  0x8u  /* the line tables (with HL_LOAD_AGG) */
#define HL_LOAD_STACKS 0x10u /* symbolized stacks (with HL_LOAD_AGG) */

struct hl_load_opts {
	unsigned needs;			     /* HL_LOAD_* */
	unsigned stack_depth;		     /* sites: callers shown */
	const struct hl_linetable_opts *lines; /* with HL_LOAD_LINES */
};

struct hl_loaded {
	const char *path;
	struct hl_trace *trace;
	struct hl_replay *replay;
	struct hl_summary summary;
	struct hl_agg *agg;	       /* NULL without HL_LOAD_AGG */
	struct hl_stacks *stacks;      /* with SITES, LINES or STACKS */
	struct hl_sites *sites;	       /* with SITES */
	struct hl_linetables *lines;   /* with LINES */
};

/* 0, or -1 with a one-line message naming the file in err (missing, not a
 * trace, too new, corrupt, out of memory), everything released.  A
 * truncated trace loads, with its warning on stderr. */
int hl_load(struct hl_loaded *l, const char *path, const struct hl_load_opts *o, char *err,
	    size_t errlen);
void hl_load_release(struct hl_loaded *l);

#endif
