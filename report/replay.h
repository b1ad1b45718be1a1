/* replay.h — stage 2: replays a trace's events against a model of the live
 * heap (address -> size and stack) and keeps the totals of SPEC's summary.
 * Memory grows with live blocks and distinct stacks, not trace length.
 * Later stages (aggregation, printers) hook in through hl_replay_hooks. */
#ifndef HL_REPLAY_H
#define HL_REPLAY_H

#include <stdint.h>

#include "trace_read.h"

struct hl_summary {
	uint64_t allocations;     /* successful calls returning a new block */
	uint64_t frees;           /* calls releasing a block (free(NULL) never recorded) */
	uint64_t bytes_allocated; /* sum of requested sizes */
	uint64_t peak_bytes;      /* max requested bytes live at once */
	uint64_t peak_time_ms;
	uint64_t leaked_bytes;    /* live at end */
	uint64_t leaked_blocks;
	uint64_t duration_ms;
	uint64_t lost_events;
	uint64_t unknown_frees;   /* frees of pointers the trace never allocated */
	uint64_t pid, ppid;
	char *command;            /* argv joined by spaces */
	char *exe;
	uint64_t truncated_bytes; /* nonzero: the trace ended early */
	int ended;                /* an END record was seen */
	unsigned end_reason;
	uint64_t peak_rss_kib;
};

/* Replays the whole trace at PATH and fills *out (free with
 * hl_summary_release).  Returns 0, or -1 with a one-line message in err. */
int hl_summary_of(const char *path, struct hl_summary *out, char *err, size_t errlen);
void hl_summary_release(struct hl_summary *s);

#endif
