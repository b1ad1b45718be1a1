/* export_stacks.h — the stacks the flame-graph exports draw (folded stacks,
 * speedscope): every stack of a trace that has a weight, symbolized,
 * outermost frame first, inlined calls as frames of their own, nothing below
 * main (the C runtime's frames, as the site views); stacks that show the same
 * frames are merged, and the result is sorted by its folded text ("main;f;g")
 * so the same trace always gives the same file.
 *
 * Also the weight itself (--metric), which `heapline diff` shares. */
#ifndef HL_EXPORT_STACKS_H
#define HL_EXPORT_STACKS_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "stacks.h"

enum hl_metric {
	HL_METRIC_ALLOCATED, /* bytes allocated */
	HL_METRIC_PEAK,	     /* bytes live at the global peak (needs the peak pass) */
	HL_METRIC_LEAKED,    /* bytes live when the trace ended */
	HL_METRIC_CALLS,     /* allocation calls */
};

/* "allocated", "peak", "leaked", "calls".  parse: 0 or -EINVAL. */
int hl_metric_parse(const char *s, enum hl_metric *out);
const char *hl_metric_name(enum hl_metric m);
/* Whether the metric counts bytes (all but calls). */
int hl_metric_is_bytes(enum hl_metric m);
uint64_t hl_metric_of(const struct hl_node_stats *s, enum hl_metric m);

/* A distinct frame of the exports (one per symbolizer frame): its name
 * (hl_export_frame_name) and a number, 0 up to ndistinct. */
struct hl_export_frame {
	const struct hl_frame *frame;
	const char *name;
	unsigned id;
};

struct hl_export_stack {
	const struct hl_export_frame **frames; /* outermost first */
	unsigned nframes;			/* >= 1 */
	uint64_t weight;
};

struct hl_export_stacks {
	struct hl_export_stack *v; /* sorted by folded text, then frames */
	size_t n;
	uint64_t total;		 /* the sum of the weights */
	size_t ndistinct;	 /* distinct frames */
	struct export_frame *by_frame; /* owns them (export_stacks.c) */
};

/* The stacks' folded texts (names joined by ';') compared as strcmp would,
 * without building them: 0 if they read the same. */
int hl_export_stack_cmp_text(const struct hl_export_stack *a, const struct hl_export_stack *b);

/* Every node of the aggregate with a nonzero weight.  0 or -errno. */
int hl_export_stacks_build(struct hl_export_stacks *out, struct hl_stacks *st,
			   const struct hl_agg *a, enum hl_metric m);
void hl_export_stacks_release(struct hl_export_stacks *s);

/* A frame's name in the exports: its function; "[module]" (file name
 * only) when the function is unknown; "[unknown]" outside every module.
 * ';' and line breaks, which the folded format cannot hold, become ':' and
 * ' '.  Returns buf. */
const char *hl_export_frame_name(const struct hl_frame *f, char *buf, size_t len);

#endif
