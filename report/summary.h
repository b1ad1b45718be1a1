/* summary.h — printing a trace's summary (struct hl_summary from replay.h) as
 * a titled text section or as the JSON object of SPEC's stable names, and the
 * combined totals of several traces. */
#ifndef HL_SUMMARY_H
#define HL_SUMMARY_H

#include <stdio.h>

#include "json.h"
#include "replay.h"

/* "exit", "exec", "_exit", "abort", "unknown" for a reason this version does
 * not know, or NULL when the trace has no END record. */
const char *hl_summary_end_name(const struct hl_summary *s);

/* What a trace whose process had a malloc of its own (s->own_malloc) is
 * told with: its numbers are not the program's. */
#define HL_OWN_MALLOC_TEXT                                                              \
	"the program's malloc is its own (defined ahead of heapline's, as by a "         \
	"statically linked allocator): the allocations it served are not in this trace"

/* The "Summary" section of one trace (path names it in the title). */
void hl_summary_print_text(FILE *f, const struct hl_summary *s, const char *path);
/* The summary as one JSON object value (the caller writes its key). */
void hl_summary_print_json(struct hl_json *j, const struct hl_summary *s, const char *path);

/* Totals over several processes (docs/report-json.md, "combined"). */
struct hl_summary_totals {
	uint64_t processes;
	uint64_t allocations, frees, bytes_allocated;
	uint64_t leaked_bytes, leaked_blocks;
	uint64_t lost_events, unknown_frees, truncated_bytes;
	uint64_t max_peak_bytes, sum_peak_bytes;
};

void hl_summary_totals_add(struct hl_summary_totals *t, const struct hl_summary *s);
void hl_summary_totals_print_text(FILE *f, const struct hl_summary_totals *t);
void hl_summary_totals_print_json(struct hl_json *j, const struct hl_summary_totals *t);

#endif
