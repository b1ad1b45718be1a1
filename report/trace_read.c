/* trace_read.c — stage 1 of the report pipeline: reads a heapline trace
 * (docs/trace-format.md) block by block and decodes its records into an
 * hl_visitor.  Exports what trace_read.h lists, nothing else.
 *
 * Everything read is validated.  A short last block (the file ends inside a
 * block header or its zstd frame) is truncation: reading stops there, the
 * unusable bytes are counted, and the call still succeeds.  Anything else that
 * does not fit the format is corruption: -1 and one line naming the file, the
 * problem and where.  Memory is two block buffers (at most HL_BLOCK_MAX_RAW
 * bytes and its compressed bound) plus one ip per stack node, never anything
 * that grows with the number of events.
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

#include "hl_format.h"
#include "trace_read.h"

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
	uint8_t *rbuf; /* one block's records */
	size_t rcap;

	/* Decoder state, reset by each hl_trace_read(). */
	uint64_t *node_ip; /* node_ip[id]; [0] is the root, ip 0 */
	uint64_t nodes;    /* ids 0 .. nodes-1 are defined */
	size_t node_cap;
	uint32_t version;  /* the file's format version, 1 or 2 */
	uint64_t prev_ptr; /* ptr deltas chain through ALLOC, FREE, REALLOC_FAIL */
	uint64_t chain[HL_PTR_CHAINS]; /* v2: each thread id's chain, by id % HL_PTR_CHAINS */
	uint64_t cur_tid;  /* of the last THREAD record, 0 before one */
	uint64_t time_ms;
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

void hl_trace_close(struct hl_trace *t)
{
	if (!t)
		return;
	close(t->fd);
	ZSTD_freeDCtx(t->dctx);
	free(t->cbuf);
	free(t->rbuf);
	free(t->node_ip);
	free(t->path);
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

/* Internal result of a record decoder: 0, DECODE_BAD (c->why says why),
 * DECODE_NOMEM, or a callback's nonzero return (passed through). */
#define DECODE_BAD   (-0x7fff0001)
#define DECODE_NOMEM (-0x7fff0002)

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

/* With v->events: queues one decoded event, handing over a full batch. */
static int queue_event(struct hl_trace *t, const struct hl_visitor *v, unsigned type, uint64_t node,
		       uint64_t size)
{
	t->ev[t->nev++] = (struct hl_rec_event){
	    .node = node,
	    .ptr = t->prev_ptr,
	    .size = size,
	    .type = (uint8_t)(type & 0xf0),
	    .fn = (uint8_t)(type & 0x0f),
	};
	return t->nev == HL_EVENT_BATCH ? flush_events(t, v) : 0;
}

static int event_rec(struct hl_trace *t, const struct hl_visitor *v, struct cursor *c)
{
	unsigned type = c->type, fn = type & 0x0f;
	uint64_t node = 0, size = 0;
	int64_t delta;

	switch (type & 0xf0) {
	case HL_REC_ALLOC:
		if (get_uv(c, &node) || get_sv(c, &delta) || get_uv(c, &size))
			return DECODE_BAD;
		if (check_node(t, c, node))
			return DECODE_BAD;
		t->prev_ptr += (uint64_t)delta;
		if (v->events)
			return queue_event(t, v, type, node, size);
		return v->alloc ? v->alloc(v->ctx, fn, node, t->prev_ptr, size) : 0;
	case HL_REC_FREE:
		if (get_uv(c, &node) || get_sv(c, &delta))
			return DECODE_BAD;
		if (check_node(t, c, node))
			return DECODE_BAD;
		t->prev_ptr += (uint64_t)delta;
		if (v->events)
			return queue_event(t, v, type, node, 0);
		return v->free ? v->free(v->ctx, fn, node, t->prev_ptr) : 0;
	default: /* HL_REC_REALLOC_FAIL */
		if (get_sv(c, &delta))
			return DECODE_BAD;
		t->prev_ptr += (uint64_t)delta;
		if (v->events)
			return queue_event(t, v, type, 0, 0);
		return v->realloc_fail ? v->realloc_fail(v->ctx, t->prev_ptr) : 0;
	}
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

/* Decodes events at c->p into t->ev while they are plain; returns how many. */
static size_t fast_events(struct hl_trace *t, struct cursor *c)
{
	const uint8_t *p = c->p, *end = c->end;
	uint64_t prev = t->prev_ptr, nodes = t->nodes;
	size_t n = t->nev, first = n;

	while (n < HL_EVENT_BATCH && (size_t)(end - p) >= EVENT_MAX_LEN) {
		const uint8_t *q = p + 1;
		unsigned type = p[0];
		uint64_t node = 0, delta, size = 0;

		if (type >= HL_REC_ALLOC && type <= HL_REC_ALLOC + HL_FN_PVALLOC) {
			if (fast_uv(&q, &node) || fast_uv(&q, &delta) || fast_uv(&q, &size) ||
			    node >= nodes)
				break;
		} else if (type == HL_REC_FREE + HL_FN_FREE ||
			   type == HL_REC_FREE + HL_FN_REALLOC ||
			   type == HL_REC_FREE + HL_FN_REALLOCARRAY) {
			if (fast_uv(&q, &node) || fast_uv(&q, &delta) || node >= nodes)
				break;
		} else if (type == HL_REC_REALLOC_FAIL) {
			if (fast_uv(&q, &delta))
				break;
		} else {
			break;
		}
		prev += (uint64_t)hl_unzigzag(delta);
		t->ev[n++] = (struct hl_rec_event){
		    .node = node,
		    .ptr = prev,
		    .size = size,
		    .type = (uint8_t)(type & 0xf0),
		    .fn = (uint8_t)(type & 0x0f),
		};
		p = q;
	}
	c->p = p;
	t->prev_ptr = prev;
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
static int leaks_rec(const struct hl_visitor *v, struct cursor *c)
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
		if (v->leak && (ret = v->leak(v->ctx, ptr, (unsigned)cls)))
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
	case HL_REC_END:
		if (get_uv(c, &a) || get_uv(c, &b))
			return DECODE_BAD;
		t->has_end = 1;
		t->end_reason = a > 0xffff ? 0xffff : (unsigned)a;
		return v->end ? v->end(v->ctx, t->end_reason, b) : 0;
	case HL_REC_LEAKS:
		return leaks_rec(v, c);
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
	default:
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
		if (t->nev && (c.type < HL_REC_ALLOC || c.type > HL_REC_REALLOC_FAIL) &&
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
	if (reserve(&t->rbuf, &t->rcap, rlen))
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
		off += HL_BLOCK_HDR_LEN + (uint64_t)clen;
	}
	return 0;
}
