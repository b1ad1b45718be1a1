/* diff_load.h — one side of `heapline diff`: a trace read through the
 * report pipeline's stages that a diff needs (replay, aggregate with the
 * peak pass, symbols, sites), as cmd_report.c's trace_load does for the
 * views. */
#ifndef HL_DIFF_LOAD_H
#define HL_DIFF_LOAD_H

#include <stddef.h>

#include "aggregate.h"
#include "replay.h"
#include "sites.h"
#include "stacks.h"
#include "trace_read.h"

struct hl_diff_trace {
	const char *path;
	struct hl_trace *trace;
	struct hl_replay *replay;
	struct hl_summary summary;
	struct hl_agg *agg;
	struct hl_stacks *stacks;
	struct hl_sites *sites; /* sites of `depth` callers (sites.h) */
};

/* 0, or -1 with a one-line message naming the file in err (the trace is
 * missing, not a trace, too new or corrupt, or memory ran out).  A truncated
 * trace loads, with its warning on stderr. */
int hl_diff_load(struct hl_diff_trace *dt, const char *path, unsigned depth, char *err,
		 size_t errlen);
void hl_diff_release(struct hl_diff_trace *dt);

#endif
