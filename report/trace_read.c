/* trace_read.c — stage 1 of the report pipeline: reads a heapline trace
 * (docs/trace-format.md) block by block and decodes its records into an
 * hl_visitor.  Exports what trace_read.h lists, nothing else.
 *
 * Everything read is validated.  A short last block (the file ends inside a
 * block header or its zstd frame) is truncation: reading stops there, the
 * unusable bytes are counted, and the call still succeeds.  Anything else that
 * does not fit the format is corruption: -1 and one line naming the file, the
 * problem and where.  Memory is two block buffers (at most HL_BLOCK_MAX_RAW
 * bytes and its compressed bound) plus one ip per stack node, and for
 * version 3 the address of each block BOUND while live (below), never
 * anything that grows with the number of events.
 *
 * Version 3 names a block by its allocation's ordinal where it can
 * (ALLOC_SEQ, FREE_SEQ; docs/trace-format.md, "Blocks by ordinal").  Such a
 * block is handed to the visitor under the key HL_SEQ_KEY(ordinal) for its
 * whole life: a BIND says at which address the trace will free it, and this
 * reader turns that address back into the key (the bound map), so the
 * visitor sees one name per block as in version 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "hl_format.h"
#include "trace_read.h"

/* Internal result of a record decoder: 0, DECODE_BAD (c->why says why),
 * DECODE_NOMEM, or a callback's nonzero return (passed through). */
#define DECODE_BAD   (-0x7fff0001)
#define DECODE_NOMEM (-0x7fff0002)

struct bound {
	uint64_t ptr, key; /* ptr 0: empty */
};

/* A thread's latest realloc-free: a REALLOC_FAIL of the thread revives
 * that block, under the key the FREE gave it. */
struct pending {
	uint64_t tid, key;
	int valid;
	UT_hash_handle hh;
};

/* No writer produces a frame larger than this: ZSTD's worst case for the
 * largest raw block.  Anything larger is a corrupt length, and refusing it
 * caps the compressed buffer. */
#define MAX_COMP_LEN ZSTD_COMPRESSBOUND(HL_BLOCK_MAX_RAW)

struct hl_trace {
	char *path;
	int fd;
	unsigned reads; /* hl_trace_read calls so far: a second one seeks back */

	ZSTD_DCtx *dctx;
	uint8_t *cbuf; /* one block's zstd frame */
	size_t ccap;
	/* The records: the last HL_PREFIX_MAX bytes of the blocks before (the
	 * prefix a block's frame may refer to), then the block's own at rbuf. */
	uint8_t *hist;	/* hcap bytes (at most HL_PREFIX_MAX + HL_BLOCK_MAX_RAW) */
	size_t hcap;
	size_t hstart;	/* rbuf - hist: the bytes kept before */
	uint8_t *rbuf;

	/* Decoder state, reset by each hl_trace_read(). */
	uint64_t *node_ip; /* node_ip[id]; [0] is the root, ip 0 */
	uint64_t nodes;    /* ids 0 .. nodes-1 are defined */
	size_t node_cap;
	uint32_t version;  /* the file's format version, 1 to 3 */
	uint64_t prev_ptr; /* ptr deltas chain through ALLOC, FREE, REALLOC_FAIL */
	uint64_t chain[HL_PTR_CHAINS]; /* v2: each thread id's chain, by id % HL_PTR_CHAINS */
	uint64_t cur_tid;  /* of the last THREAD record, 0 before one */
	uint64_t time_ms;
	/* Version 3: blocks by ordinal. */
	uint64_t allocs;	/* allocations so far: the latest ordinal */
	uint64_t bind_prev;	/* the BIND records' address chain */
	struct bound *bound;	/* address -> key of blocks named by ordinal, */
	size_t nbound, bound_slots; /* open addressing, at most 3/4 full */
	uint64_t *bound_bits;	/* BOUND_BITS(bound_slots) bits: see bound_key */
	size_t bound_set;	/* bits set, stale ones included */
	struct pending *pend;	/* per thread: its realloc-free's key (uthash) */
	uint64_t truncated;
	int has_end;
	unsigned end_reason;

	/* Events decoded but not yet handed to hl_visitor.events. */
	struct hl_rec_event ev[HL_EVENT_BATCH];
	size_t nev;
};

/* Where a record is, for error messages. */
struct cursor {
	const uint8_t *p, *end;
	const uint8_t *block;    /* start of the block's raw bytes */
	uint64_t block_off;      /* file offset of the block header */
	size_t rec_off;          /* offset of the current record in the block */
	unsigned type;           /* its type byte */
	int in_payload;          /* end is a sized record's payload end */
	const char *why;         /* what went wrong, for the caller's message */
};

static int fail(const struct hl_trace *t, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(const struct hl_trace *t, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		int n = snprintf(err, errlen, "%s: ", t ? t->path : "?");
		if (n >= 0 && (size_t)n < errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

/* Reads up to n bytes, fewer only at end of file.  Returns the count or -errno. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Grows *buf to hold n bytes (n is already bounded by the caller). */
static int reserve(uint8_t **buf, size_t *cap, size_t n)
{
	if (n <= *cap && *buf)
		return 0;
	uint8_t *nb = realloc(*buf, n ? n : 1);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = n ? n : 1;
	return 0;
}

int hl_trace_open(const char *path, struct hl_trace **out, char *err, size_t errlen)
{
	struct hl_trace tmp = { .path = (char *)path }; /* for messages only */
	uint8_t hdr[HL_HEADER_LEN];
	struct hl_trace *t = NULL;
	struct stat st;
	ssize_t n;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(&tmp, err, errlen, "%s", strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		fail(&tmp, err, errlen, "is a directory, not a heapline trace");
		goto err_close;
	}
	n = read_full(fd, hdr, sizeof(hdr));
	if (n < 0) {
		fail(&tmp, err, errlen, "read error: %s", strerror((int)-n));
		goto err_close;
	}
	if (n == 0) {
		fail(&tmp, err, errlen, "empty file, not a heapline trace");
		goto err_close;
	}
	if (memcmp(hdr, HL_MAGIC, (size_t)n < HL_MAGIC_LEN ? (size_t)n : HL_MAGIC_LEN)) {
		fail(&tmp, err, errlen, "not a heapline trace");
		goto err_close;
	}
	if (n < HL_HEADER_LEN) {
		/* The magic matches as far as it goes: a writer died before
		 * finishing even the header, so nothing here is usable. */
		fail(&tmp, err, errlen, "trace truncated inside its header (%zd of %d bytes)", n,
		     HL_HEADER_LEN);
		goto err_close;
	}
	uint32_t version = hl_get_u32le(hdr + HL_MAGIC_LEN);
	if (version > HL_VERSION) {
		fail(&tmp, err, errlen,
		     "trace format version %" PRIu32 " is newer than this heapline supports (%d)",
		     version, HL_VERSION);
		goto err_close;
	}
	if (version == 0) {
		fail(&tmp, err, errlen, "corrupt trace: format version 0 at byte offset 8");
		goto err_close;
	}
	/* The flags word is 0 in version 1; unknown flags are left for the
	 * version that defines them, as sized records are. */

	t = calloc(1, sizeof(*t));
	if (!t)
		goto err_nomem;
	t->fd = fd;
	t->version = version;
	t->path = strdup(path);
	t->dctx = ZSTD_createDCtx();
	if (!t->path || !t->dctx)
		goto err_nomem;
	*out = t;
	return 0;

err_nomem:
	fail(&tmp, err, errlen, "out of memory");
	if (t) {
		free(t->path);
		ZSTD_freeDCtx(t->dctx);
		free(t);
	}
err_close:
	close(fd);
	return -1;
}

/* ---- version 3: blocks by ordinal -------------------------------------------- */

static void pend_clear(struct hl_trace *t)
{
	struct pending *p, *tmp;

	HASH_ITER(hh, t->pend, p, tmp)
	{
		HASH_DEL(t->pend, p);
		free(p);
	}
}

/* Bound blocks are few next to the frees by address, and nearly every
 * free is of a block that was never bound: a bitmap, one bit per 16-byte
 * granule (modulo its size, 16 bits a slot), answers those without a
 * lookup in the table; a free's neighbours in time are mostly its
 * neighbours in memory, so its bits are in the cache.  (python3, 42k
 * blocks bound, 1.8M frees: the lookups were a quarter of the replay.)
 * A taken binding leaves its bit set: the bits are counted again from the
 * table when the stale ones make up an eighth of the slots. */
#define BOUND_BITS(slots) ((slots) * 16)

static inline uint64_t bound_bit(const struct hl_trace *t, uint64_t ptr)
{
	return (ptr >> 4) & (BOUND_BITS(t->bound_slots) - 1);
}

static inline int bound_maybe(const struct hl_trace *t, uint64_t ptr)
{
	uint64_t i = bound_bit(t, ptr);

	return (int)(t->bound_bits[i / 64] >> (i % 64)) & 1;
}

static inline void bound_mark(struct hl_trace *t, uint64_t ptr)
{
	uint64_t i = bound_bit(t, ptr), m = 1ull << (i % 64);

	t->bound_set += !(t->bound_bits[i / 64] & m);
	t->bound_bits[i / 64] |= m;
}

static void bound_remark(struct hl_trace *t)
{
	memset(t->bound_bits, 0, BOUND_BITS(t->bound_slots) / 8);
	t->bound_set = 0;
	for (size_t i = 0; i < t->bound_slots; i++)
		if (t->bound[i].ptr)
			bound_mark(t, t->bound[i].ptr);
}

static void bound_drop(struct hl_trace *t)
{
	free(t->bound);
	free(t->bound_bits);
	t->bound = NULL;
	t->bound_bits = NULL;
	t->nbound = t->bound_slots = t->bound_set = 0;
}

static inline uint64_t bound_home(const struct hl_trace *t, uint64_t ptr)
{
	return (ptr * 0x9e3779b97f4a7c15ull) >> 32 & (t->bound_slots - 1);
}

/* The slot of ptr, or the empty one where it goes (bound_slots > 0). */
static struct bound *bound_slot(const struct hl_trace *t, uint64_t ptr)
{
	for (uint64_t i = bound_home(t, ptr);; i = (i + 1) & (t->bound_slots - 1))
		if (!t->bound[i].ptr || t->bound[i].ptr == ptr)
			return &t->bound[i];
}

static int bound_put(struct hl_trace *t, uint64_t ptr, uint64_t key)
{
	struct bound *b;

	if (!ptr)
		return 0; /* no block lives at 0 */
	if ((t->nbound + 1) * 4 > t->bound_slots * 3) {
		size_t slots = t->bound_slots ? t->bound_slots * 2 : 1024;
		struct bound *old = t->bound, *nb = calloc(slots, sizeof(*nb));
		uint64_t *bits = malloc(BOUND_BITS(slots) / 8);
		size_t old_slots = t->bound_slots;

		if (!nb || !bits) {
			free(nb);
			free(bits);
			return DECODE_NOMEM;
		}
		t->bound = nb;
		t->bound_slots = slots;
		for (size_t i = 0; i < old_slots; i++)
			if (old[i].ptr)
				*bound_slot(t, old[i].ptr) = old[i];
		free(old);
		free(t->bound_bits);
		t->bound_bits = bits;
		bound_remark(t);
	} else if (t->bound_set > 2 * t->nbound + t->bound_slots / 8) {
		bound_remark(t);
	}
	b = bound_slot(t, ptr);
	if (!b->ptr)
		t->nbound++;
	*b = (struct bound){ptr, key};
	bound_mark(t, ptr);
	return 0;
}

/* The key of the block at ptr: its ordinal's if it was bound there (and
 * the binding dropped when `take`: the block is freed), else ptr. */
static inline uint64_t bound_key(struct hl_trace *t, uint64_t ptr, int take)
{
	struct bound *b;
	uint64_t key, mask, hole, i;

	if (!t->nbound || !bound_maybe(t, ptr))
		return ptr;
	b = bound_slot(t, ptr);
	if (!b->ptr)
		return ptr;
	key = b->key;
	if (!take)
		return key;
	/* Backward-shift deletion: no tombstones. */
	mask = t->bound_slots - 1;
	hole = (uint64_t)(b - t->bound);
	for (i = (hole + 1) & mask; t->bound[i].ptr; i = (i + 1) & mask) {
		uint64_t home = bound_home(t, t->bound[i].ptr);
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			t->bound[hole] = t->bound[i];
			hole = i;
		}
	}
	t->bound[hole].ptr = 0;
	t->nbound--;
	return key;
}

/* The ordinal a FREE_SEQ or BIND names by d, or 0 if none (corrupt). */
static inline uint64_t seq_ordinal(const struct hl_trace *t, uint64_t d)
{
	return d >= 1 && d <= t->allocs ? t->allocs + 1 - d : 0;
}

/* A realloc's FREE: remembers its key for a REALLOC_FAIL of the thread. */
static int pend_set(struct hl_trace *t, uint64_t key)
{
	struct pending *p;

	HASH_FIND(hh, t->pend, &t->cur_tid, sizeof(t->cur_tid), p);
	if (!p) {
		if (!(p = calloc(1, sizeof(*p))))
			return DECODE_NOMEM;
		p->tid = t->cur_tid;
		HASH_ADD(hh, t->pend, tid, sizeof(p->tid), p);
		if (!p->hh.tbl) {
			free(p);
			return DECODE_NOMEM;
		}
	}
	p->key = key;
	p->valid = 1;
	return 0;
}

/* REALLOC_FAIL at ptr: the key of the block the thread's realloc-free
 * named, now live at ptr (bound there if it is an ordinal's). */
static int pend_take(struct hl_trace *t, uint64_t ptr, uint64_t *key)
{
	struct pending *p;

	HASH_FIND(hh, t->pend, &t->cur_tid, sizeof(t->cur_tid), p);
	if (!p || !p->valid || !(p->key >> 63)) {
		/* named by address: it is back there */
		if (p)
			p->valid = 0;
		*key = bound_key(t, ptr, 0);
		return 0;
	}
	p->valid = 0;
	*key = p->key;
	return p->key != ptr ? bound_put(t, ptr, p->key) : 0;
}

void hl_trace_close(struct hl_trace *t)
{
	if (!t)
		return;
	close(t->fd);
	ZSTD_freeDCtx(t->dctx);
	free(t->cbuf);
	free(t->hist);
	free(t->node_ip);
	free(t->path);
	bound_drop(t);
	pend_clear(t);
	free(t);
}

const char *hl_trace_path(const struct hl_trace *t)
{
	return t->path;
}

uint64_t hl_trace_truncated_bytes(const struct hl_trace *t)
{
	return t->truncated;
}

int hl_trace_has_end(const struct hl_trace *t, unsigned *reason)
{
	if (t->has_end && reason)
		*reason = t->end_reason;
	return t->has_end;
}

/* ---- record fields -------------------------------------------------------- */

static int get_uv(struct cursor *c, uint64_t *out)
{
	if (!hl_get_uv(&c->p, c->end, out))
		return 0;
	/* Tell "ran out of bytes" from "not a varint": only continuation
	 * bytes up to the end, fewer than a full varint, is an overrun. */
	size_t left = (size_t)(c->end - c->p), i;
	for (i = 0; i < left && (c->p[i] & 0x80); i++)
		;
	if (i == left && left < HL_VARINT_MAX)
		c->why = c->in_payload ? "fields run past the record's stated length"
				       : "record runs past the end of its block";
	else
		c->why = "bad varint";
	return -1;
}

static int get_sv(struct cursor *c, int64_t *out)
{
	uint64_t u;
	if (get_uv(c, &u))
		return -1;
	*out = hl_unzigzag(u);
	return 0;
}

/* A str field: its bytes stay in the block buffer. */
static int get_str(struct cursor *c, const uint8_t **s, size_t *len)
{
	uint64_t n;
	if (get_uv(c, &n))
		return -1;
	if (n > (uint64_t)(c->end - c->p)) {
		c->why = c->in_payload ? "string runs past the record's stated length"
				       : "string runs past the end of its block";
		return -1;
	}
	*s = c->p;
	*len = (size_t)n;
	c->p += n;
	return 0;
}

/* Copies a str into scratch as a C string.  The scratch is sized to the
 * payload: each string's NUL takes the place of its length varint. */
static char *put_str(char **scratch, const uint8_t *s, size_t len)
{
	char *d = *scratch;
	memcpy(d, s, len);
	d[len] = '\0';
	*scratch += len + 1;
	return d;
}

/* ---- records ------------------------------------------------------------- */


static int node_rec(struct hl_trace *t, const struct hl_visitor *v, struct cursor *c)
{
	uint64_t parent, id = t->nodes;
	int64_t delta;

	if (get_uv(c, &parent) || get_sv(c, &delta))
		return DECODE_BAD;
	if (t->version >= 2) /* v2 writes id - parent, never 0 */
		parent = parent && parent <= id ? id - parent : id;
	if (parent >= id) {
		/* Parents are written first, so this is what keeps stacks
		 * acyclic for every later stage. */
		c->why = "stack node's parent is not an earlier node";
		return DECODE_BAD;
	}
	if (t->nodes == t->node_cap) {
		size_t cap = t->node_cap * 2;
		uint64_t *a = realloc(t->node_ip, cap * sizeof(*a));
		if (!a)
			return DECODE_NOMEM;
		t->node_ip = a;
		t->node_cap = cap;
	}
	uint64_t ip = t->node_ip[parent] + (uint64_t)delta;
	t->node_ip[t->nodes++] = ip;
	return v->node ? v->node(v->ctx, id, parent, ip) : 0;
}

static int check_node(struct hl_trace *t, struct cursor *c, uint64_t node)
{
	if (node < t->nodes)
		return 0;
	c->why = "event names a stack node not yet defined";
	return DECODE_BAD;
}

/* Hands the batched events to v->events. */
static int flush_events(struct hl_trace *t, const struct hl_visitor *v)
{
	size_t n = t->nev;

	t->nev = 0;
	return n ? v->events(v->ctx, t->ev, n) : 0;
}

/* One decoded event to the visitor: queued for v->events (a full batch
 * handed over), or to its own callback.  type: HL_REC_ALLOC, HL_REC_FREE or
 * HL_REC_REALLOC_FAIL; ptr: the block's address, or its key. */
static int deliver(struct hl_trace *t, const struct hl_visitor *v, unsigned type, unsigned fn,
		   uint64_t node, uint64_t ptr, uint64_t size)
{
	if (v->events) {
		t->ev[t->nev++] = (struct hl_rec_event){
		    .node = node,
		    .ptr = ptr,
		    .size = size,
		    .type = (uint8_t)type,
		    .fn = (uint8_t)fn,
		};
		return t->nev == HL_EVENT_BATCH ? flush_events(t, v) : 0;
	}
	switch (type) {
	case HL_REC_ALLOC:
		return v->alloc ? v->alloc(v->ctx, fn, node, ptr, size) : 0;
	case HL_REC_FREE:
		return v->free ? v->free(v->ctx, fn, node, ptr) : 0;
	default:
		return v->realloc_fail ? v->realloc_fail(v->ctx, ptr) : 0;
	}
}

static inline int is_realloc_fn(unsigned fn)
{
	return fn == HL_FN_REALLOC || fn == HL_FN_REALLOCARRAY;
}

/* A FREE's block, named by key (an address or an HL_SEQ_KEY): for a realloc,
 * remembered (version 3). */
static int free_key(struct hl_trace *t, unsigned fn, uint64_t key)
{
	return t->version >= 3 && is_realloc_fn(fn) ? pend_set(t, key) : 0;
}

static int event_rec(struct hl_trace *t, const struct hl_visitor *v, struct cursor *c)
{
	unsigned type = c->type, fn = type & 0x0f;
	uint64_t node = 0, size = 0, d, key, o;
	int64_t delta;
	int ret;

	if (type >= HL_REC_ALLOC_SEQ) { /* v3: by ordinal, no address */
		fn = type - HL_REC_ALLOC_SEQ;
		if (get_uv(c, &node) || get_uv(c, &size) || check_node(t, c, node))
			return DECODE_BAD;
		t->allocs++;
		return deliver(t, v, HL_REC_ALLOC, fn, node, HL_SEQ_KEY(t->allocs), size);
	}
	if (type >= HL_REC_FREE_SEQ && type < HL_REC_REALLOC_FAIL) {
		fn = type - HL_REC_FREE_SEQ;
		if (get_uv(c, &node) || get_uv(c, &d) || check_node(t, c, node))
			return DECODE_BAD;
		if (!(o = seq_ordinal(t, d))) {
			c->why = "FREE_SEQ names an allocation not made yet";
			return DECODE_BAD;
		}
		if ((ret = free_key(t, fn, HL_SEQ_KEY(o))))
			return ret;
		return deliver(t, v, HL_REC_FREE, fn, node, HL_SEQ_KEY(o), 0);
	}
	switch (type & 0xf0) {
	case HL_REC_ALLOC:
		if (get_uv(c, &node) || get_sv(c, &delta) || get_uv(c, &size))
			return DECODE_BAD;
		if (check_node(t, c, node))
			return DECODE_BAD;
		t->prev_ptr += (uint64_t)delta;
		t->allocs++;
		/* Bound here still: its FREE was lost, this replaces it. */
		key = bound_key(t, t->prev_ptr, 0);
		return deliver(t, v, HL_REC_ALLOC, fn, node, key, size);
	case HL_REC_FREE:
		if (get_uv(c, &node) || get_sv(c, &delta))
			return DECODE_BAD;
		if (check_node(t, c, node))
			return DECODE_BAD;
		t->prev_ptr += (uint64_t)delta;
		key = bound_key(t, t->prev_ptr, 1);
		if ((ret = free_key(t, fn, key)))
			return ret;
		return deliver(t, v, HL_REC_FREE, fn, node, key, 0);
	default: /* HL_REC_REALLOC_FAIL */
		if (get_sv(c, &delta))
			return DECODE_BAD;
		t->prev_ptr += (uint64_t)delta;
		key = t->prev_ptr;
		if (t->version >= 3 && (ret = pend_take(t, t->prev_ptr, &key)))
			return ret;
		return deliver(t, v, HL_REC_REALLOC_FAIL, 0, 0, key, 0);
	}
}

/* BIND (v3): the block of an ordinal is at an address from now on. */
static int bind_rec(struct hl_trace *t, struct cursor *c)
{
	uint64_t d, o;
	int64_t delta;

	if (get_uv(c, &d) || get_sv(c, &delta))
		return DECODE_BAD;
	if (!(o = seq_ordinal(t, d))) {
		c->why = "BIND names an allocation not made yet";
		return DECODE_BAD;
	}
	t->bind_prev += (uint64_t)delta;
	return bound_put(t, t->bind_prev, HL_SEQ_KEY(o));
}

/* ---- the fast path for events ------------------------------------------------
 *
 * Nearly every record of a trace is an ALLOC or a FREE, and get_uv's bounds
 * check per byte is most of what decoding them costs.  While a whole record
 * of the longest kind still fits before the block's end, fast_events decodes
 * them with no bounds checks, into the batch.  It accepts exactly what
 * event_rec accepts and stops at anything else: another record type, a
 * varint event_rec would refuse, an undefined node, the block's last bytes.
 * The record it stops at goes through one_record, which decodes or
 * diagnoses it as always. */
#define EVENT_MAX_LEN (1 + 3 * HL_VARINT_MAX)

/* hl_get_uv without the bounds check: the caller knows HL_VARINT_MAX bytes
 * are there.  Returns 0, or -1 for what hl_get_uv refuses (more than 64 bits). */
static inline int fast_uv(const uint8_t **pp, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t b = *p++, v;

	if (b < 0x80) {
		*out = b;
		*pp = p;
		return 0;
	}
	v = b & 0x7f;
	for (unsigned shift = 7;; shift += 7) {
		b = *p++;
		if (shift == 63) {
			if (b > 1)
				return -1;
			v |= b << 63;
			break;
		}
		v |= (b & 0x7f) << shift;
		if (b < 0x80)
			break;
	}
	*out = v;
	*pp = p;
	return 0;
}

/* Decodes events at c->p into t->ev while they are plain; returns how many.
 * Version 3's realloc frees, REALLOC_FAILs and BINDs take the slow path. */
static size_t fast_events(struct hl_trace *t, struct cursor *c)
{
	const uint8_t *p = c->p, *end = c->end;
	uint64_t prev = t->prev_ptr, nodes = t->nodes, allocs = t->allocs;
	size_t n = t->nev, first = n;
	int v3 = t->version >= 3;

	while (n < HL_EVENT_BATCH && (size_t)(end - p) >= EVENT_MAX_LEN) {
		const uint8_t *q = p + 1;
		unsigned type = p[0], kind, fn = type & 0x0f;
		uint64_t node = 0, delta, size = 0, key;

		if (type >= HL_REC_ALLOC && type <= HL_REC_ALLOC + HL_FN_PVALLOC) {
			if (fast_uv(&q, &node) || fast_uv(&q, &delta) || fast_uv(&q, &size) ||
			    node >= nodes)
				break;
			prev += (uint64_t)hl_unzigzag(delta);
			allocs++;
			key = bound_key(t, prev, 0);
			kind = HL_REC_ALLOC;
		} else if (type == HL_REC_FREE + HL_FN_FREE ||
			   (!v3 && (type == HL_REC_FREE + HL_FN_REALLOC ||
				    type == HL_REC_FREE + HL_FN_REALLOCARRAY))) {
			if (fast_uv(&q, &node) || fast_uv(&q, &delta) || node >= nodes)
				break;
			prev += (uint64_t)hl_unzigzag(delta);
			key = bound_key(t, prev, 1);
			kind = HL_REC_FREE;
		} else if (v3 && type >= HL_REC_ALLOC_SEQ &&
			   type <= HL_REC_ALLOC_SEQ + HL_FN_PVALLOC) {
			if (fast_uv(&q, &node) || fast_uv(&q, &size) || node >= nodes)
				break;
			key = HL_SEQ_KEY(++allocs);
			kind = HL_REC_ALLOC;
			fn = type - HL_REC_ALLOC_SEQ;
		} else if (v3 && type == HL_REC_FREE_SEQ + HL_FN_FREE) {
			if (fast_uv(&q, &node) || fast_uv(&q, &delta) || node >= nodes ||
			    delta < 1 || delta > allocs)
				break;
			key = HL_SEQ_KEY(allocs + 1 - delta);
			kind = HL_REC_FREE;
			fn = HL_FN_FREE;
		} else if (!v3 && type == HL_REC_REALLOC_FAIL) {
			if (fast_uv(&q, &delta))
				break;
			prev += (uint64_t)hl_unzigzag(delta);
			key = prev;
			kind = HL_REC_REALLOC_FAIL;
		} else {
			break;
		}
		t->ev[n++] = (struct hl_rec_event){
		    .node = node,
		    .ptr = key,
		    .size = size,
		    .type = (uint8_t)kind,
		    .fn = (uint8_t)fn,
		};
		p = q;
	}
	c->p = p;
	t->prev_ptr = prev;
	t->allocs = allocs;
	t->nev = n;
	return n - first;
}

static int info_rec(const struct hl_visitor *v, struct cursor *c)
{
	struct hl_info info = { 0 };
	const uint8_t *s;
	char *scratch = NULL, *sp;
	size_t len;
	int ret = DECODE_BAD;

	if (!v->info)
		return 0;
	scratch = malloc((size_t)(c->end - c->p) + 1);
	if (!scratch)
		return DECODE_NOMEM;
	sp = scratch;
	if (get_uv(c, &info.pid) || get_uv(c, &info.ppid) || get_uv(c, &info.start_unix_ms) ||
	    get_uv(c, &info.max_depth) || get_uv(c, &info.flags) || get_str(c, &s, &len))
		goto out;
	info.exe = put_str(&sp, s, len);
	if (get_uv(c, &info.argc))
		goto out;
	/* Every argument takes at least its length byte, so this bounds the
	 * array by the record's size whatever argc claims. */
	if (info.argc > (uint64_t)(c->end - c->p)) {
		c->why = "INFO argument count exceeds the record";
		goto out;
	}
	info.argv = calloc((size_t)info.argc + 1, sizeof(*info.argv));
	if (!info.argv) {
		ret = DECODE_NOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < info.argc; i++) {
		if (get_str(c, &s, &len))
			goto out;
		info.argv[i] = put_str(&sp, s, len);
	}
	if (get_str(c, &s, &len))
		goto out;
	info.version = put_str(&sp, s, len);
	/* Bytes after the known fields are a later minor addition: ignored. */
	ret = v->info(v->ctx, &info);
out:
	free(info.argv);
	free(scratch);
	return ret;
}

static int module_rec(const struct hl_visitor *v, struct cursor *c)
{
	struct hl_module m = { 0 };
	const uint8_t *path, *bid;
	size_t plen, blen;
	char *scratch, *sp;
	int ret = DECODE_BAD;

	if (!v->module_load)
		return 0;
	scratch = malloc((size_t)(c->end - c->p) + 1);
	if (!scratch)
		return DECODE_NOMEM;
	sp = scratch;
	if (get_uv(c, &m.id) || get_uv(c, &m.bias) || get_uv(c, &m.lo) || get_uv(c, &m.hi) ||
	    get_str(c, &path, &plen) || get_str(c, &bid, &blen))
		goto out;
	m.path = put_str(&sp, path, plen);
	m.build_id = (uint8_t *)bid; /* points into the block: callers copy it */
	m.build_id_len = blen;
	ret = v->module_load(v->ctx, &m);
out:
	free(scratch);
	return ret;
}

/* LEAKS: uv count, count x (uv address delta, uv class), then the scan's
 * statistics (uv us, uv root bytes, uv block bytes, uv flags). */
static int leaks_rec(struct hl_trace *t, const struct hl_visitor *v, struct cursor *c)
{
	struct hl_leak_scan scan = { 0 };
	uint64_t ptr = 0;
	int ret;

	if (!v->leak && !v->leak_scan)
		return 0;
	if (get_uv(c, &scan.blocks))
		return DECODE_BAD;
	/* Each entry takes at least two bytes: bounds the loop by the record. */
	if (scan.blocks > (uint64_t)(c->end - c->p) / 2) {
		c->why = "LEAKS block count exceeds the record";
		return DECODE_BAD;
	}
	for (uint64_t i = 0; i < scan.blocks; i++) {
		uint64_t delta, cls;
		if (get_uv(c, &delta) || get_uv(c, &cls))
			return DECODE_BAD;
		if (i && delta == 0) {
			c->why = "LEAKS addresses not ascending";
			return DECODE_BAD;
		}
		ptr += delta;
		if (cls > HL_LEAK_REACHABLE) {
			c->why = "unknown leak class";
			return DECODE_BAD;
		}
		if (v->leak && (ret = v->leak(v->ctx, bound_key(t, ptr, 0), (unsigned)cls)))
			return ret;
	}
	if (get_uv(c, &scan.scan_us) || get_uv(c, &scan.root_bytes) ||
	    get_uv(c, &scan.block_bytes) || get_uv(c, &scan.flags))
		return DECODE_BAD;
	return v->leak_scan ? v->leak_scan(v->ctx, &scan) : 0;
}

static int sized_rec(struct hl_trace *t, const struct hl_visitor *v, struct cursor *c)
{
	uint64_t a, b;

	switch (c->type) {
	case HL_REC_INFO:
		return info_rec(v, c);
	case HL_REC_MODULE_LOAD:
		return module_rec(v, c);
	case HL_REC_MODULE_UNLOAD:
		if (get_uv(c, &a))
			return DECODE_BAD;
		return v->module_unload ? v->module_unload(v->ctx, a) : 0;
	case HL_REC_LOST:
		if (get_uv(c, &a))
			return DECODE_BAD;
		return v->lost ? v->lost(v->ctx, a) : 0;
	case HL_REC_END: {
		uint64_t sig = 0;
		if (get_uv(c, &a) || get_uv(c, &b) ||
		    (hl_end_has_signal(a) && c->p < c->end && get_uv(c, &sig)))
			return DECODE_BAD;
		t->has_end = 1;
		t->end_reason = a > 0xffff ? 0xffff : (unsigned)a;
		return v->end ? v->end(v->ctx, t->end_reason, sig > 0xffff ? 0xffff : (unsigned)sig,
				       b)
			      : 0;
	}
	case HL_REC_LEAKS:
		return leaks_rec(t, v, c);
	default:
		return 0; /* a later version's record: its length lets us skip it */
	}
}

static int one_record(struct hl_trace *t, const struct hl_visitor *v, struct cursor *c)
{
	uint64_t a, b;

	if (c->type >= HL_REC_SIZED) {
		uint64_t plen;
		if (get_uv(c, &plen))
			return DECODE_BAD;
		if (plen > (uint64_t)(c->end - c->p)) {
			c->why = "record runs past the end of its block";
			return DECODE_BAD;
		}
		struct cursor pc = *c;
		pc.end = c->p + plen;
		pc.in_payload = 1;
		c->p += plen;
		int ret = sized_rec(t, v, &pc);
		c->why = pc.why;
		return ret;
	}
	switch (c->type) {
	case HL_REC_NODE:
		return node_rec(t, v, c);
	case HL_REC_THREAD:
		if (get_uv(c, &a))
			return DECODE_BAD;
		if (t->version >= 2 && a != t->cur_tid) {
			t->chain[t->cur_tid % HL_PTR_CHAINS] = t->prev_ptr;
			t->prev_ptr = t->chain[a % HL_PTR_CHAINS];
		}
		t->cur_tid = a;
		return v->thread ? v->thread(v->ctx, a) : 0;
	case HL_REC_TIME:
		if (get_uv(c, &a) || get_uv(c, &b))
			return DECODE_BAD;
		if (t->time_ms + a < t->time_ms) {
			c->why = "clock overflows";
			return DECODE_BAD;
		}
		t->time_ms += a;
		return v->time ? v->time(v->ctx, t->time_ms, b) : 0;
	case HL_REC_ALLOC ... HL_REC_ALLOC + HL_FN_PVALLOC:
	case HL_REC_FREE + HL_FN_FREE:
	case HL_REC_FREE + HL_FN_REALLOC:
	case HL_REC_FREE + HL_FN_REALLOCARRAY:
	case HL_REC_REALLOC_FAIL:
		return event_rec(t, v, c);
	case HL_REC_ALLOC_SEQ ... HL_REC_ALLOC_SEQ + HL_FN_PVALLOC:
	case HL_REC_FREE_SEQ + HL_FN_FREE:
	case HL_REC_FREE_SEQ + HL_FN_REALLOC:
	case HL_REC_FREE_SEQ + HL_FN_REALLOCARRAY:
		if (t->version < 3)
			goto unknown;
		return event_rec(t, v, c);
	case HL_REC_BIND:
		if (t->version < 3)
			goto unknown;
		return bind_rec(t, c);
	default:
	unknown:
		c->why = "unknown record type";
		return DECODE_BAD;
	}
}

static int decode_block(struct hl_trace *t, const struct hl_visitor *v, size_t len,
			uint64_t block_off, char *err, size_t errlen)
{
	struct cursor c = {
		.p = t->rbuf, .end = t->rbuf + len, .block = t->rbuf, .block_off = block_off,
	};

	int ret;

	while (c.p < c.end) {
		if (v->events && fast_events(t, &c)) {
			if (t->nev == HL_EVENT_BATCH && (ret = flush_events(t, v)))
				return ret;
			continue;
		}
		c.rec_off = (size_t)(c.p - c.block);
		c.type = *c.p++;
		c.why = NULL;
		/* Events queued so far go before any other record's callback. */
		if (t->nev && (c.type < HL_REC_ALLOC || c.type > HL_REC_ALLOC_SEQ + HL_FN_PVALLOC) &&
		    (ret = flush_events(t, v)))
			return ret;
		ret = one_record(t, v, &c);
		if (ret == DECODE_BAD || ret == DECODE_NOMEM) {
			/* The records before this one happened: their
			 * callbacks run first, as without batching. */
			int fret = v->events ? flush_events(t, v) : 0;
			if (fret)
				return fret;
		}
		if (ret == DECODE_BAD)
			return fail(t, err, errlen,
				    "corrupt trace: %s (record type 0x%02x at offset %zu in the block at byte offset %" PRIu64 ")",
				    c.why ? c.why : "bad record", c.type, c.rec_off, block_off);
		if (ret == DECODE_NOMEM)
			return fail(t, err, errlen, "out of memory");
		if (ret)
			return ret;
	}
	return v->events ? flush_events(t, v) : 0;
}

/* Checks a complete block's frame and decompresses it into rbuf. */
static int inflate_block(struct hl_trace *t, size_t clen, size_t rlen, uint64_t off, char *err,
			 size_t errlen)
{
	const uint8_t *f = t->cbuf;

	if (clen < 5 || hl_get_u32le(f) != ZSTD_MAGICNUMBER)
		return fail(t, err, errlen,
			    "corrupt trace: block payload is not a zstd frame (block at byte offset %" PRIu64 ")",
			    off);
	/* Frame header descriptor bit 2 (RFC 8878): the content checksum that
	 * lets a bit flip anywhere in the records be caught. */
	if (!(f[4] & 0x04))
		return fail(t, err, errlen,
			    "corrupt trace: block's zstd frame has no checksum (block at byte offset %" PRIu64 ")",
			    off);
	size_t fsz = ZSTD_findFrameCompressedSize(f, clen);
	if (ZSTD_isError(fsz))
		return fail(t, err, errlen, "corrupt trace: zstd: %s (block at byte offset %" PRIu64 ")",
			    ZSTD_getErrorName(fsz), off);
	if (fsz != clen)
		return fail(t, err, errlen,
			    "corrupt trace: block holds %zu bytes after its zstd frame (block at byte offset %" PRIu64 ")",
			    clen - fsz, off);
	unsigned long long csz = ZSTD_getFrameContentSize(f, clen);
	if (csz != ZSTD_CONTENTSIZE_UNKNOWN && csz != rlen)
		return fail(t, err, errlen,
			    "corrupt trace: block header says %zu raw bytes, its frame %llu (block at byte offset %" PRIu64 ")",
			    rlen, csz, off);
	/* Grown as blocks need (small traces stay small), by doubling. */
	size_t need = t->hstart + rlen, want = 2 * t->hcap;
	if (want > HL_PREFIX_MAX + HL_BLOCK_MAX_RAW)
		want = HL_PREFIX_MAX + HL_BLOCK_MAX_RAW;
	if (need > t->hcap && reserve(&t->hist, &t->hcap, need > want ? need : want))
		return fail(t, err, errlen, "out of memory");
	t->rbuf = t->hist + t->hstart;
	/* The records before, by reference, for this frame only; the writer
	 * may have referred to fewer of them, or none (docs/trace-format.md):
	 * the frame decodes the same. */
	if (t->hstart && ZSTD_isError(ZSTD_DCtx_refPrefix(t->dctx, t->hist, t->hstart)))
		return fail(t, err, errlen, "out of memory");
	size_t got = ZSTD_decompressDCtx(t->dctx, t->rbuf, rlen, f, clen);
	if (ZSTD_isError(got))
		return fail(t, err, errlen, "corrupt trace: zstd: %s (block at byte offset %" PRIu64 ")",
			    ZSTD_getErrorName(got), off);
	if (got != rlen)
		return fail(t, err, errlen,
			    "corrupt trace: block decompresses to %zu bytes, its header says %zu (block at byte offset %" PRIu64 ")",
			    got, rlen, off);
	return 0;
}

int hl_trace_read(struct hl_trace *t, const struct hl_visitor *v, char *err, size_t errlen)
{
	static const struct hl_visitor none = { 0 };
	uint8_t magic[4], hdr[HL_BLOCK_HDR_LEN];
	uint64_t off = HL_HEADER_LEN;
	ssize_t n;
	int ret;

	if (!v)
		v = &none;
	if (t->reads++ && lseek(t->fd, HL_HEADER_LEN, SEEK_SET) < 0)
		return fail(t, err, errlen, "cannot read the trace a second time: %s", strerror(errno));
	t->nodes = 0;
	t->prev_ptr = 0;
	t->cur_tid = 0;
	memset(t->chain, 0, sizeof(t->chain));
	t->allocs = 0;
	t->bind_prev = 0;
	bound_drop(t);
	pend_clear(t);
	t->hstart = 0;
	t->time_ms = 0;
	t->truncated = 0;
	t->has_end = 0;
	t->end_reason = 0;
	t->nev = 0; /* a callback that stopped the last read may have left some */
	if (!t->node_ip) {
		t->node_ip = malloc(4096 * sizeof(*t->node_ip));
		if (!t->node_ip)
			return fail(t, err, errlen, "out of memory");
		t->node_cap = 4096;
	}
	t->node_ip[t->nodes++] = 0; /* node 0, the empty stack */
	hl_put_u32le(magic, HL_BLOCK_MAGIC);

	for (;;) {
		n = read_full(t->fd, hdr, sizeof(hdr));
		if (n < 0)
			return fail(t, err, errlen, "read error at byte offset %" PRIu64 ": %s", off,
				    strerror((int)-n));
		if (n == 0)
			break;
		if (memcmp(hdr, magic, (size_t)n < sizeof(magic) ? (size_t)n : sizeof(magic)))
			return fail(t, err, errlen,
				    "corrupt trace: bad block magic at byte offset %" PRIu64, off);
		if (n < HL_BLOCK_HDR_LEN) {
			t->truncated = (uint64_t)n;
			break;
		}
		uint32_t clen = hl_get_u32le(hdr + 4), rlen = hl_get_u32le(hdr + 8);
		if (rlen > HL_BLOCK_MAX_RAW || clen == 0 || clen > MAX_COMP_LEN)
			return fail(t, err, errlen,
				    "corrupt trace: impossible block lengths (%" PRIu32 " compressed, %" PRIu32 " raw) at byte offset %" PRIu64,
				    clen, rlen, off);
		if (reserve(&t->cbuf, &t->ccap, clen))
			return fail(t, err, errlen, "out of memory");
		n = read_full(t->fd, t->cbuf, clen);
		if (n < 0)
			return fail(t, err, errlen, "read error at byte offset %" PRIu64 ": %s",
				    off + HL_BLOCK_HDR_LEN, strerror((int)-n));
		if ((size_t)n < clen) {
			/* Even a partial frame must start like one; otherwise
			 * the length, not the file, is what is wrong. */
			uint8_t zm[4];
			hl_put_u32le(zm, ZSTD_MAGICNUMBER);
			if (memcmp(t->cbuf, zm, (size_t)n < sizeof(zm) ? (size_t)n : sizeof(zm)))
				return fail(t, err, errlen,
					    "corrupt trace: block payload is not a zstd frame (block at byte offset %" PRIu64 ")",
					    off);
			/* A whole frame inside the partial payload means the
			 * length field grew (a flipped bit), not the file. */
			size_t fsz = ZSTD_findFrameCompressedSize(t->cbuf, (size_t)n);
			if (!ZSTD_isError(fsz) && fsz < clen)
				return fail(t, err, errlen,
					    "corrupt trace: block length %" PRIu32 " but its zstd frame ends after %zu bytes (block at byte offset %" PRIu64 ")",
					    clen, fsz, off);
			t->truncated = HL_BLOCK_HDR_LEN + (uint64_t)n;
			break;
		}
		ret = inflate_block(t, clen, rlen, off, err, errlen);
		if (ret)
			return ret;
		ret = decode_block(t, v, rlen, off, err, errlen);
		if (ret)
			return ret;
		t->hstart += rlen;
		if (t->hstart > HL_PREFIX_MAX) { /* the last HL_PREFIX_MAX bytes, at the start */
			memmove(t->hist, t->hist + t->hstart - HL_PREFIX_MAX, HL_PREFIX_MAX);
			t->hstart = HL_PREFIX_MAX;
		}
		off += HL_BLOCK_HDR_LEN + (uint64_t)clen;
	}
	/* The stages after the reading need the memory more (a second read
	 * allocates again). */
	bound_drop(t);
	free(t->cbuf);
	free(t->hist);
	t->cbuf = t->hist = t->rbuf = NULL;
	t->ccap = t->hcap = t->hstart = 0;
	return 0;
}
