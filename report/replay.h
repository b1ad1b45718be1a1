/* replay.h — stage 2: replays a trace's events against a model of the live
 * heap (address -> size and stack) and keeps the totals of SPEC's summary.
 * Memory grows with live blocks and distinct stacks, not trace length.
 * Later stages (aggregation, printers) hook in through hl_replay_hooks. */
#ifndef HL_REPLAY_H
#define HL_REPLAY_H

#include <stddef.h>
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
	unsigned end_signal;      /* end_reason HL_END_SIGNAL: which (0: not told) */
	uint64_t peak_rss_kib;
	int own_malloc;           /* the process's malloc was its own: not seen */
};

/* Replays the whole trace at PATH and fills *out (free with
 * hl_summary_release).  Returns 0, or -1 with a one-line message in err. */
int hl_summary_of(const char *path, struct hl_summary *out, char *err, size_t errlen);
void hl_summary_release(struct hl_summary *s);

/* ---- the replay, for stages that need more than the summary --------------
 *
 *	struct hl_replay *r = hl_replay_new();
 *	hl_replay_add_hooks(r, &my_hooks);      // once per interested stage
 *	hl_replay_run(r, trace, err, errlen);    // trace from hl_trace_open()
 *	hl_replay_summary(r, &summary);          // and/or the accessors below
 *	hl_replay_free(r);
 *
 * A replay runs over one trace, once. */
struct hl_replay;

enum hl_event_kind {
	HL_EV_ALLOC = 1,    /* a block was allocated (fn: enum hl_fn) */
	HL_EV_FREE,         /* a block was released (fn 0 free, 2 realloc, 3 reallocarray);
			       known = 0 if the trace never allocated ptr */
	HL_EV_REALLOC_UNDO, /* a realloc failed: its FREE is undone, the block live again */
	HL_EV_REPLACED,     /* an allocation returned the address of a block still live
			       (a missed free): the old block is dropped, not counted
			       as a free; the HL_EV_ALLOC follows */
};

struct hl_event {
	enum hl_event_kind kind;
	unsigned fn;
	uint64_t thread;      /* trace thread id (1 = first thread) */
	uint64_t node;        /* stack of the call that made the event (UNDO: the realloc's) */
	uint64_t ptr;
	uint64_t size;        /* ALLOC: requested; others: the block's size, 0 if unknown */
	uint64_t alloc_node;  /* stack that allocated the block (ALLOC: = node), 0 if unknown */
	int known;            /* the block was live, so size and alloc_node are real */
	uint64_t time_ms;     /* time of the current TIME record */
	uint64_t live_bytes;  /* requested bytes live after the event */
	uint64_t live_blocks;
};

/* Callbacks, any may be NULL.  A nonzero return stops the replay and is what
 * hl_replay_run() returns (use a positive value or -errno other than -1). */
struct hl_replay_hooks {
	void *ctx;
	int (*event)(void *ctx, const struct hl_replay *r, const struct hl_event *ev);
	/* A TIME record: absolute ms, RSS sample, live bytes at that moment. */
	int (*tick)(void *ctx, const struct hl_replay *r, uint64_t ms, uint64_t rss_kib,
		    uint64_t live_bytes);
	/* The events again, for a stage that needs only what an hl_event
	 * says: in batches of consecutive ones, in order, each batch handed
	 * over before this hook's next tick and before hl_replay_run returns.
	 * The replay has moved on by then (hl_replay_foreach_live shows a
	 * later heap), and a stopped replay may not hand over its last batch.
	 * One call per batch instead of per event: the aggregator's way in. */
	int (*events)(void *ctx, const struct hl_replay *r, const struct hl_event *ev, size_t n);
	/* A NODE, MODULE_LOAD or MODULE_UNLOAD record, in trace order, once the
	 * replay has taken it in (hl_replay_info() is the trace's INFO by then,
	 * if it has one).  For a stage that follows the stacks as they come. */
	int (*node)(void *ctx, const struct hl_replay *r, uint64_t id, uint64_t ip);
	int (*module_load)(void *ctx, const struct hl_replay *r, const struct hl_module *m);
	int (*module_unload)(void *ctx, const struct hl_replay *r, uint64_t id);
};

/* A module as the trace saw it.  Nodes with first_node <= id < end_node were
 * recorded while it was loaded (end_node is UINT64_MAX until unloaded). */
struct hl_replay_module {
	struct hl_module mod; /* strings owned by the replay */
	uint64_t first_node, end_node;
};

#define HL_REPLAY_MAX_HOOKS 16

struct hl_replay *hl_replay_new(void); /* NULL if out of memory */
/* Adds a hook set (copied).  0, or -ENOSPC past HL_REPLAY_MAX_HOOKS. */
int hl_replay_add_hooks(struct hl_replay *r, const struct hl_replay_hooks *hooks);
/* Reads the whole trace through the replay.  0 (possibly truncated: see the
 * summary), -1 with a one-line message in err, or a hook's nonzero return. */
int hl_replay_run(struct hl_replay *r, struct hl_trace *t, char *err, size_t errlen);
/* The summary so far (after hl_replay_run: of the whole trace).  0 or -ENOMEM;
 * release with hl_summary_release. */
int hl_replay_summary(const struct hl_replay *r, struct hl_summary *out);
void hl_replay_free(struct hl_replay *r);
/* Before hl_replay_run: hl_replay_foreach_live need not keep allocation
 * order (it then goes by address table slot), which saves 4 bytes a live
 * block.  For replays whose live blocks are only summed. */
void hl_replay_unordered(struct hl_replay *r);

/* The INFO record, or NULL if the trace had none (yet). */
const struct hl_info *hl_replay_info(const struct hl_replay *r);
/* Stack nodes: ids 0 .. hl_replay_node_count()-1; 0 is the empty stack.
 * hl_replay_node returns 0, or -ENOENT for an id out of range. */
uint64_t hl_replay_node_count(const struct hl_replay *r);
int hl_replay_node(const struct hl_replay *r, uint64_t id, uint64_t *parent, uint64_t *ip);
/* Modules in load order. */
size_t hl_replay_module_count(const struct hl_replay *r);
const struct hl_replay_module *hl_replay_module(const struct hl_replay *r, size_t i);
/* The module holding ip as it was when node was recorded (falling back to
 * the latest module ever holding ip), or NULL. */
const struct hl_replay_module *hl_replay_module_of(const struct hl_replay *r, uint64_t node,
						   uint64_t ip);
/* Calls fn for each live block, in allocation order; a nonzero return stops
 * and is returned. */
int hl_replay_foreach_live(const struct hl_replay *r,
			   int (*fn)(void *ctx, uint64_t ptr, uint64_t size, uint64_t node),
			   void *ctx);
/* The same in no particular order, without the sort (and its allocation):
 * for callers that only sum. */
int hl_replay_foreach_live_unordered(const struct hl_replay *r,
				     int (*fn)(void *ctx, uint64_t ptr, uint64_t size,
					       uint64_t node),
				     void *ctx);

#endif
