/* aggregate.h — stage 4 of the report pipeline, before symbols: sums the
 * replay's events per stack node (what was allocated and freed with each
 * stack, temporaries, the live heap around it), the size histogram and the
 * memory-over-time series; after the replay, what each stack leaked; and, on
 * request, what each stack held at the global peak (kept track of during the
 * same pass; a second pass over the trace only for a broken trace).  Memory
 * grows with distinct stacks and threads, never with the trace's length.
 *
 *	struct hl_agg *a = hl_agg_new();
 *	hl_agg_attach(a, replay);                 // before hl_replay_run
 *	hl_replay_run(replay, trace, ...);
 *	hl_agg_finish(a, replay);                 // leaks: blocks live at the end
 *	hl_agg_peak_pass(a, trace, NULL, ...);    // optional: the peak snapshot
 *
 * Symbolized views (per function, line or site) are built from the per-node
 * sums: every number they show is a sum (or, for live heap, a maximum) over
 * events, so it is a sum over the nodes those events were made with. */
#ifndef HL_AGGREGATE_H
#define HL_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "replay.h"

/* What happened with one stack node. */
struct hl_node_stats {
	uint64_t allocs, alloc_bytes; /* allocations made with this stack */
	uint64_t frees, free_bytes;   /* frees made with it (bytes: of known blocks) */
	uint64_t max_live;	      /* live heap bytes just after such an event, the largest */
	uint64_t temps, temp_bytes;   /* its allocations that were temporary */
	uint64_t leaked_bytes, leaked_blocks; /* its allocations live at the end */
	uint64_t peak_bytes, peak_blocks;     /* its allocations live at the global peak */
};

/* to += s, field by field (max_live: the larger). */
void hl_node_stats_add(struct hl_node_stats *to, const struct hl_node_stats *s);

/* Sizes 0 and [2^k, 2^(k+1)) for k = 0..63: bucket 0 is size 0, bucket k+1
 * holds 2^k .. 2^(k+1)-1. */
#define HL_HIST_BUCKETS 65
struct hl_hist_bucket {
	uint64_t calls, bytes;
};

/* Memory over time in HL_TIMELINE_SLOTS slots of slot_ms each, from time 0;
 * slot_ms doubles (neighbours merge) whenever the trace outgrows them. */
#define HL_TIMELINE_SLOTS 1024
struct hl_timeline_slot {
	uint64_t max_live, last_live; /* live heap bytes: most in the slot, at its end */
	uint64_t max_rss_kib;
	unsigned char has_live, has_rss;
};

struct hl_timeline {
	uint64_t slot_ms;
	uint64_t end_ms; /* the latest time seen */
	struct hl_timeline_slot slot[HL_TIMELINE_SLOTS];
};

struct hl_agg;

struct hl_agg *hl_agg_new(void); /* NULL if out of memory */
void hl_agg_free(struct hl_agg *a);
/* Hooks the aggregator into a replay that has not run yet.  0 or -errno. */
int hl_agg_attach(struct hl_agg *a, struct hl_replay *r);
/* After the replay: records each stack's blocks still live.  0 or -ENOMEM. */
int hl_agg_finish(struct hl_agg *a, const struct hl_replay *r);
/* Fills peak_bytes and peak_blocks: each stack's live blocks at the event
 * that first reached the peak.  After hl_agg_finish that is known from the
 * replay already; otherwise (or if the replay dropped a block without an
 * event, which only a broken trace makes it do) this reads the trace again,
 * a fresh replay up to that event.  extra: hooks to add to that replay
 * (progress), or NULL.  0, or -1 with a one-line message in err. */
int hl_agg_peak_pass(struct hl_agg *a, struct hl_trace *t, const struct hl_replay_hooks *extra,
		     char *err, size_t errlen);
int hl_agg_has_peak(const struct hl_agg *a);

/* Nodes with activity: i = 0 .. hl_agg_count()-1, in first-seen order. */
size_t hl_agg_count(const struct hl_agg *a);
uint64_t hl_agg_node_id(const struct hl_agg *a, size_t i);
const struct hl_node_stats *hl_agg_stats(const struct hl_agg *a, size_t i);
/* The stats of a node id, or NULL if nothing happened with it. */
const struct hl_node_stats *hl_agg_node(const struct hl_agg *a, uint64_t node);

/* Totals over the trace. */
uint64_t hl_agg_temporaries(const struct hl_agg *a, uint64_t *bytes);
const struct hl_hist_bucket *hl_agg_histogram(const struct hl_agg *a); /* HL_HIST_BUCKETS */
const struct hl_timeline *hl_agg_timeline(const struct hl_agg *a);
/* The peak as the aggregator saw it: bytes and its event's time (ms). */
uint64_t hl_agg_peak(const struct hl_agg *a, uint64_t *time_ms);

/* The bucket index of a size, and its range [lo, hi] (inclusive). */
unsigned hl_hist_bucket_of(uint64_t size);
void hl_hist_bucket_range(unsigned b, uint64_t *lo, uint64_t *hi);

#endif
