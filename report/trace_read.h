/* trace_read.h — stage 1 of the report pipeline: open a trace file, check its
 * header, decompress its blocks and decode their records into callbacks.
 * Detects truncation (reported, not fatal) and corruption (fatal, with a
 * one-line message).  Never allocates in proportion to the trace's length. */
#ifndef HL_TRACE_READ_H
#define HL_TRACE_READ_H

#include <stddef.h>
#include <stdint.h>

struct hl_trace;

struct hl_info {
	uint64_t pid, ppid, start_unix_ms, max_depth, flags;
	char *exe;
	uint64_t argc;
	char **argv;
	char *version;
};

struct hl_module {
	uint64_t id, bias, lo, hi;
	char *path;
	uint8_t *build_id;
	size_t build_id_len;
};

/* The statistics of a LEAKS record (docs/trace-format.md). */
struct hl_leak_scan {
	uint64_t blocks;      /* entries in this record */
	uint64_t scan_us;     /* how long the whole scan took */
	uint64_t root_bytes;  /* root memory it read */
	uint64_t block_bytes; /* block contents it read */
	uint64_t flags;       /* enum hl_leaks_flag */
};

/* Version 3 names some blocks by their allocation's ordinal (1 for the
 * trace's first allocation) instead of an address: callbacks get this key
 * for them where they get a pointer, the same for the block's whole life
 * (no address has bit 63 set in a user-space process). */
#define HL_SEQ_KEY(ordinal) ((1ull << 63) | (ordinal))

/* One ALLOC, FREE or REALLOC_FAIL record, decoded (ALLOC_SEQ and FREE_SEQ
 * as ALLOC and FREE): what hl_visitor.events receives in batches. */
struct hl_rec_event {
	uint64_t node; /* stack node (0 for REALLOC_FAIL) */
	uint64_t ptr;  /* absolute, or HL_SEQ_KEY */
	uint64_t size; /* ALLOC: requested bytes; 0 otherwise */
	uint8_t type;  /* HL_REC_ALLOC, HL_REC_FREE or HL_REC_REALLOC_FAIL (hl_format.h) */
	uint8_t fn;    /* the low nibble of the record type */
};

/* Most events one hl_visitor.events call receives. */
#define HL_EVENT_BATCH 64

/* Callbacks, any of which may be NULL.  A nonzero return stops reading and is
 * returned by hl_trace_read().  Times are absolute ms since the trace began;
 * pointers are absolute (deltas are undone), or a block's HL_SEQ_KEY. */
struct hl_visitor {
	void *ctx;
	int (*info)(void *ctx, const struct hl_info *info);
	int (*node)(void *ctx, uint64_t id, uint64_t parent, uint64_t ip);
	int (*thread)(void *ctx, uint64_t tid);
	int (*time)(void *ctx, uint64_t ms, uint64_t rss_kib);
	int (*alloc)(void *ctx, unsigned fn, uint64_t node, uint64_t ptr, uint64_t size);
	int (*free)(void *ctx, unsigned fn, uint64_t node, uint64_t ptr);
	int (*realloc_fail)(void *ctx, uint64_t ptr);
	int (*module_load)(void *ctx, const struct hl_module *mod);
	int (*module_unload)(void *ctx, uint64_t id);
	int (*lost)(void *ctx, uint64_t count);
	/* sig: HL_END_SIGNAL's signal number (0 if the record has none) */
	int (*end)(void *ctx, unsigned reason, unsigned sig, uint64_t ms);
	/* A LEAKS record (leak-scan mode): leak() once per block it
	 * classifies, in address order, then leak_scan() with the record's
	 * statistics.  A scan may span several LEAKS records. */
	int (*leak)(void *ctx, uint64_t ptr, unsigned leak_class);
	int (*leak_scan)(void *ctx, const struct hl_leak_scan *scan);
	/* If set, ALLOC, FREE and REALLOC_FAIL records come here instead of
	 * to alloc, free and realloc_fail: runs of consecutive events, up to
	 * HL_EVENT_BATCH a call, in trace order.  A batch never spans a block
	 * or another record: it is handed over before any other callback and
	 * before a corruption is reported, so everything sees the order the
	 * per-event callbacks would.  For the replay's hot path: one indirect
	 * call per batch instead of per event, and a batch to prefetch ahead in. */
	int (*events)(void *ctx, const struct hl_rec_event *ev, size_t n);
};

/* Returns 0, or -1 with a one-line message ("PATH: not a heapline trace") in err. */
int hl_trace_open(const char *path, struct hl_trace **out, char *err, size_t errlen);
/* Streams every record.  Returns 0 when the whole file was read (possibly
 * truncated: see hl_trace_truncated), -1 on corruption with the message in
 * err, or a callback's nonzero return. */
int hl_trace_read(struct hl_trace *t, const struct hl_visitor *v, char *err, size_t errlen);
/* After reading: bytes at the end that were not usable (0 if complete). */
uint64_t hl_trace_truncated_bytes(const struct hl_trace *t);
/* Whether the trace ended with an END record, and its reason. */
int hl_trace_has_end(const struct hl_trace *t, unsigned *reason);
const char *hl_trace_path(const struct hl_trace *t);
void hl_trace_close(struct hl_trace *t);

#endif
