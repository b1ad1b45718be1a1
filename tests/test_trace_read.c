/* test_trace_read.c — the trace reader and replay against traces crafted
 * byte by byte: exact decoding and summary of a valid trace (realloc,
 * failed realloc, unknown free, address reuse), truncation at every byte,
 * bit flips and garbage records (a clean error or a decode, never a crash or
 * a hang), bad magic, newer version, empty file, and the specific corruption
 * messages.  Exit 0 pass, 1 fail, 77 skip (liburing's convention).
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

#include "check.h"
#include "hl_format.h"
#include "replay.h"
#include "trace_read.h"

static char tmpdir[] = "/tmp/hl-test-trace-read.XXXXXX";


/* ---- building traces ------------------------------------------------------ */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("realloc");
			exit(1);
		}
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_u8(struct buf *b, uint8_t v)
{
	buf_put(b, &v, 1);
}

static void put_uv(struct buf *b, uint64_t v)
{
	uint8_t t[HL_VARINT_MAX];
	buf_put(b, t, hl_put_uv(t, v));
}

static void put_sv(struct buf *b, int64_t v)
{
	uint8_t t[HL_VARINT_MAX];
	buf_put(b, t, hl_put_sv(t, v));
}

static void put_str(struct buf *b, const char *s)
{
	put_uv(b, strlen(s));
	buf_put(b, s, strlen(s));
}

/* A trace being written, plus the visitor log the reader must produce. */
struct tw {
	struct buf file, raw, expect;
	struct buf allraw; /* every block's records, for mutation */
	uint32_t version;
	uint64_t prev_ptr, time_ms;
	uint64_t chain[HL_PTR_CHAINS], cur_tid; /* v2: per-thread pointer chains */
	uint64_t node_ip[64];
	uint64_t nodes;
};

static void logf_(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	buf_put(b, line, (size_t)n);
}

static void tw_init(struct tw *w, uint32_t version)
{
	uint8_t h[HL_HEADER_LEN];
	memset(w, 0, sizeof(*w));
	memcpy(h, HL_MAGIC, HL_MAGIC_LEN);
	hl_put_u32le(h + 8, version);
	hl_put_u32le(h + 12, 0);
	buf_put(&w->file, h, sizeof(h));
	w->nodes = 1;
	w->version = version;
}

static void tw_free(struct tw *w)
{
	free(w->file.p);
	free(w->raw.p);
	free(w->expect.p);
	free(w->allraw.p);
}

/* Compresses the pending records into one block (checksum on). */
static void tw_block(struct tw *w)
{
	size_t cap = ZSTD_compressBound(w->raw.len);
	uint8_t *c = malloc(cap);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	size_t n = ZSTD_compress2(cc, c, cap, w->raw.p, w->raw.len);
	if (ZSTD_isError(n)) {
		fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(n));
		exit(1);
	}
	uint8_t h[HL_BLOCK_HDR_LEN];
	hl_put_u32le(h, HL_BLOCK_MAGIC);
	hl_put_u32le(h + 4, (uint32_t)n);
	hl_put_u32le(h + 8, (uint32_t)w->raw.len);
	buf_put(&w->file, h, sizeof(h));
	buf_put(&w->file, c, n);
	buf_put(&w->allraw, w->raw.p, w->raw.len);
	w->raw.len = 0;
	ZSTD_freeCCtx(cc);
	free(c);
}

static void put_ptr(struct tw *w, uint64_t ptr)
{
	put_sv(&w->raw, (int64_t)(ptr - w->prev_ptr));
	w->prev_ptr = ptr;
}

static void r_node(struct tw *w, uint64_t parent, uint64_t ip)
{
	put_u8(&w->raw, HL_REC_NODE);
	put_uv(&w->raw, w->version >= 2 ? w->nodes - parent : parent);
	put_sv(&w->raw, (int64_t)(ip - w->node_ip[parent]));
	logf_(&w->expect, "node %" PRIu64 " %" PRIu64 " %#" PRIx64 "\n", w->nodes, parent, ip);
	w->node_ip[w->nodes++] = ip;
}

static void r_thread(struct tw *w, uint64_t tid)
{
	if (w->version >= 2 && tid != w->cur_tid) {
		w->chain[w->cur_tid % HL_PTR_CHAINS] = w->prev_ptr;
		w->prev_ptr = w->chain[tid % HL_PTR_CHAINS];
	}
	w->cur_tid = tid;
	put_u8(&w->raw, HL_REC_THREAD);
	put_uv(&w->raw, tid);
	logf_(&w->expect, "thread %" PRIu64 "\n", tid);
}

static void r_time(struct tw *w, uint64_t dms, uint64_t rss)
{
	put_u8(&w->raw, HL_REC_TIME);
	put_uv(&w->raw, dms);
	put_uv(&w->raw, rss);
	w->time_ms += dms;
	logf_(&w->expect, "time %" PRIu64 " %" PRIu64 "\n", w->time_ms, rss);
}

static void r_alloc(struct tw *w, unsigned fn, uint64_t node, uint64_t ptr, uint64_t size)
{
	put_u8(&w->raw, (uint8_t)(HL_REC_ALLOC + fn));
	put_uv(&w->raw, node);
	put_ptr(w, ptr);
	put_uv(&w->raw, size);
	logf_(&w->expect, "alloc %u %" PRIu64 " %#" PRIx64 " %" PRIu64 "\n", fn, node, ptr, size);
}

static void r_free(struct tw *w, unsigned fn, uint64_t node, uint64_t ptr)
{
	put_u8(&w->raw, (uint8_t)(HL_REC_FREE + fn));
	put_uv(&w->raw, node);
	put_ptr(w, ptr);
	logf_(&w->expect, "free %u %" PRIu64 " %#" PRIx64 "\n", fn, node, ptr);
}

static void r_realloc_fail(struct tw *w, uint64_t ptr)
{
	put_u8(&w->raw, HL_REC_REALLOC_FAIL);
	put_ptr(w, ptr);
	logf_(&w->expect, "realloc_fail %#" PRIx64 "\n", ptr);
}

static void r_sized(struct tw *w, uint8_t type, const struct buf *payload)
{
	put_u8(&w->raw, type);
	put_uv(&w->raw, payload->len);
	buf_put(&w->raw, payload->p, payload->len);
}

static void r_info(struct tw *w, uint64_t pid, uint64_t ppid, const char *exe, int argc,
		   const char *const *argv)
{
	struct buf p = { 0 };
	put_uv(&p, pid);
	put_uv(&p, ppid);
	put_uv(&p, 1700000000000ull);
	put_uv(&p, 64);
	put_uv(&p, 0);
	put_str(&p, exe);
	put_uv(&p, (uint64_t)argc);
	for (int i = 0; i < argc; i++)
		put_str(&p, argv[i]);
	put_str(&p, "0.1.0");
	r_sized(w, HL_REC_INFO, &p);
	logf_(&w->expect, "info %" PRIu64 " %" PRIu64 " %s %d", pid, ppid, exe, argc);
	for (int i = 0; i < argc; i++)
		logf_(&w->expect, " [%s]", argv[i]);
	logf_(&w->expect, " 0.1.0\n");
	free(p.p);
}

static void r_module(struct tw *w, uint64_t id, uint64_t lo, uint64_t hi, const char *path)
{
	struct buf p = { 0 };
	put_uv(&p, id);
	put_uv(&p, lo);
	put_uv(&p, lo);
	put_uv(&p, hi);
	put_str(&p, path);
	put_uv(&p, 2);
	put_u8(&p, 0xde);
	put_u8(&p, 0xad);
	r_sized(w, HL_REC_MODULE_LOAD, &p);
	logf_(&w->expect, "module %" PRIu64 " %#" PRIx64 " %#" PRIx64 " %s dead\n", id, lo, hi, path);
	free(p.p);
}

static void r_one_uv(struct tw *w, uint8_t type, const char *name, uint64_t v)
{
	struct buf p = { 0 };
	put_uv(&p, v);
	r_sized(w, type, &p);
	logf_(&w->expect, "%s %" PRIu64 "\n", name, v);
	free(p.p);
}

static void r_end(struct tw *w, unsigned reason, unsigned sig, uint64_t ms)
{
	struct buf p = { 0 };
	put_uv(&p, reason);
	put_uv(&p, ms);
	if (reason == HL_END_SIGNAL)
		put_uv(&p, sig);
	r_sized(w, HL_REC_END, &p);
	logf_(&w->expect, "end %u %u %" PRIu64 "\n", reason, sig, ms);
	free(p.p);
}

/* A type from a later version: the reader must skip it. */
static void r_future(struct tw *w)
{
	struct buf p = { 0 };
	buf_put(&p, "\x01\x02\x03xyz", 6);
	r_sized(w, 0x57, &p);
	free(p.p);
}

/* ---- reading back ----------------------------------------------------------- */

struct log {
	struct buf b;
};

static int v_info(void *c, const struct hl_info *in)
{
	struct log *l = c;
	logf_(&l->b, "info %" PRIu64 " %" PRIu64 " %s %" PRIu64, in->pid, in->ppid, in->exe, in->argc);
	for (uint64_t i = 0; i < in->argc; i++)
		logf_(&l->b, " [%s]", in->argv[i]);
	logf_(&l->b, " %s\n", in->version);
	return 0;
}
static int v_node(void *c, uint64_t id, uint64_t parent, uint64_t ip)
{
	logf_(&((struct log *)c)->b, "node %" PRIu64 " %" PRIu64 " %#" PRIx64 "\n", id, parent, ip);
	return 0;
}
static int v_thread(void *c, uint64_t tid)
{
	logf_(&((struct log *)c)->b, "thread %" PRIu64 "\n", tid);
	return 0;
}
static int v_time(void *c, uint64_t ms, uint64_t rss)
{
	logf_(&((struct log *)c)->b, "time %" PRIu64 " %" PRIu64 "\n", ms, rss);
	return 0;
}
static int v_alloc(void *c, unsigned fn, uint64_t node, uint64_t ptr, uint64_t size)
{
	logf_(&((struct log *)c)->b, "alloc %u %" PRIu64 " %#" PRIx64 " %" PRIu64 "\n", fn, node, ptr,
	      size);
	return 0;
}
static int v_free(void *c, unsigned fn, uint64_t node, uint64_t ptr)
{
	logf_(&((struct log *)c)->b, "free %u %" PRIu64 " %#" PRIx64 "\n", fn, node, ptr);
	return 0;
}
static int v_realloc_fail(void *c, uint64_t ptr)
{
	logf_(&((struct log *)c)->b, "realloc_fail %#" PRIx64 "\n", ptr);
	return 0;
}
static int v_module(void *c, const struct hl_module *m)
{
	struct log *l = c;
	logf_(&l->b, "module %" PRIu64 " %#" PRIx64 " %#" PRIx64 " %s ", m->id, m->lo, m->hi, m->path);
	for (size_t i = 0; i < m->build_id_len; i++)
		logf_(&l->b, "%02x", m->build_id[i]);
	logf_(&l->b, "\n");
	return 0;
}
static int v_unload(void *c, uint64_t id)
{
	logf_(&((struct log *)c)->b, "unload %" PRIu64 "\n", id);
	return 0;
}
static int v_lost(void *c, uint64_t n)
{
	logf_(&((struct log *)c)->b, "lost %" PRIu64 "\n", n);
	return 0;
}
static int v_end(void *c, unsigned reason, unsigned sig, uint64_t ms)
{
	logf_(&((struct log *)c)->b, "end %u %u %" PRIu64 "\n", reason, sig, ms);
	return 0;
}

static const struct hl_visitor log_visitor = {
	.info = v_info, .node = v_node, .thread = v_thread, .time = v_time,
	.alloc = v_alloc, .free = v_free, .realloc_fail = v_realloc_fail,
	.module_load = v_module, .module_unload = v_unload, .lost = v_lost, .end = v_end,
};

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n) || close(fd)) {
		perror(path);
		exit(1);
	}
}

static char *tmp_path(const char *name)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* Reads path with the logging visitor.  Returns hl_trace_read's result, or
 * -2 if open failed; err holds the message. */
static int read_logged(const char *path, struct log *l, uint64_t *truncated, char *err,
		       size_t errlen)
{
	struct hl_trace *t;
	struct hl_visitor v = log_visitor;

	err[0] = '\0';
	if (hl_trace_open(path, &t, err, errlen))
		return -2;
	v.ctx = l;
	int ret = hl_trace_read(t, &v, err, errlen);
	if (truncated)
		*truncated = hl_trace_truncated_bytes(t);
	hl_trace_close(t);
	return ret;
}

/* ---- the reference trace ---------------------------------------------------- */

/* Two blocks exercising every record type and the replay's corner cases.
 * The expected summary is worked out in the comments. */
/* The version build_reference writes: test_valid runs for each. */
static uint32_t ref_version = HL_VERSION;

static void build_reference(struct tw *w, size_t *block1_end)
{
	static const char *const argv[] = { "./prog", "a b", "x" };

	tw_init(w, ref_version);
	r_info(w, 4242, 1, "/usr/bin/prog", 3, argv);
	r_module(w, 1, 0x400000, 0x500000, "/usr/bin/prog");
	r_thread(w, 1);
	r_time(w, 0, 1000);
	r_node(w, 0, 0x401000);                 /* 1 */
	r_node(w, 1, 0x401010);                 /* 2 */
	r_node(w, 1, 0x400f00);                 /* 3: negative delta */
	r_alloc(w, HL_FN_MALLOC, 2, 0x1000, 100); /* live 100 */
	r_alloc(w, HL_FN_CALLOC, 3, 0x2000, 200); /* live 300 */
	r_time(w, 5, 2000);                       /* t 5 */
	r_free(w, HL_FN_FREE, 1, 0x1000);         /* live 200, frees 1 */
	r_future(w);
	tw_block(w);
	*block1_end = w->file.len;

	r_time(w, 10, 1500);                           /* t 15 */
	r_thread(w, 2);
	r_alloc(w, HL_FN_MALLOC, 2, 0x1000, 50);       /* address reuse: live 250 */
	r_free(w, HL_FN_REALLOC, 3, 0x2000);           /* live 50, frees 2 */
	r_alloc(w, HL_FN_REALLOC, 3, 0x3000, 400);     /* live 450: peak at 15 */
	r_free(w, HL_FN_REALLOC, 2, 0x1000);           /* live 400, frees 3 */
	r_thread(w, 3);
	r_free(w, HL_FN_FREE, 1, 0x9999);              /* unknown: frees 4 */
	r_thread(w, 2);
	r_realloc_fail(w, 0x1000);                     /* undo: live 450, frees 3 */
	r_thread(w, 3);
	r_free(w, HL_FN_REALLOCARRAY, 1, 0x7777);      /* unknown: frees 4 */
	r_realloc_fail(w, 0x7777);                     /* undo: frees 3 */
	r_alloc(w, HL_FN_MALLOC, 1, 0x3000, 10);       /* replaces the live 400: live 60 */
	r_one_uv(w, HL_REC_LOST, "lost", 2);
	r_time(w, 3, 3000);                            /* t 18 */
	r_alloc(w, HL_FN_POSIX_MEMALIGN, 2, 0x5000, 1000); /* live 1060: peak at 18 */
	r_free(w, HL_FN_FREE, 2, 0x5000);              /* live 60, frees 4 */
	r_one_uv(w, HL_REC_MODULE_UNLOAD, "unload", 1);
	r_end(w, HL_END_EXIT, 0, 20);
	tw_block(w);
}

struct hook_log {
	struct buf b;
	uint64_t events;
};

static int h_event(void *ctx, const struct hl_replay *r, const struct hl_event *ev)
{
	static const char *const kinds[] = { "?", "ALLOC", "FREE", "UNDO", "REPLACED" };
	struct hook_log *h = ctx;
	h->events++;
	logf_(&h->b, "%s fn%u t%" PRIu64 " n%" PRIu64 " %#" PRIx64 " %" PRIu64 " a%" PRIu64 " k%d @%" PRIu64
	      " live %" PRIu64 "/%" PRIu64 "\n",
	      kinds[ev->kind], ev->fn, ev->thread, ev->node, ev->ptr, ev->size, ev->alloc_node,
	      ev->known, ev->time_ms, ev->live_bytes, ev->live_blocks);
	return 0;
}

static int live_sum(void *ctx, uint64_t ptr, uint64_t size, uint64_t node)
{
	logf_(ctx, "live %#" PRIx64 " %" PRIu64 " n%" PRIu64 "\n", ptr, size, node);
	return 0;
}

static void test_valid(void)
{
	struct tw w;
	size_t b1;
	struct log l = { 0 };
	uint64_t trunc = 99;
	char err[512];

	build_reference(&w, &b1);
	char *path = tmp_path("valid.hlt");
	write_file(path, w.file.p, w.file.len);

	int ret = read_logged(path, &l, &trunc, err, sizeof(err));
	CHECK(ret == 0, "read returned %d: %s", ret, err);
	CHECK(trunc == 0, "truncated %" PRIu64, trunc);
	put_u8(&l.b, 0);
	put_u8(&w.expect, 0);
	CHECK(!strcmp((char *)l.b.p, (char *)w.expect.p), "decoded records differ:\n--- got\n%s--- expected\n%s",
	      (char *)l.b.p, (char *)w.expect.p);

	/* Replay: the summary worked out in build_reference(). */
	struct hl_summary s;
	ret = hl_summary_of(path, &s, err, sizeof(err));
	CHECK(ret == 0, "summary failed: %s", err);
	if (ret == 0) {
		CHECK(s.allocations == 6, "allocations %" PRIu64, s.allocations);
		CHECK(s.frees == 4, "frees %" PRIu64, s.frees);
		CHECK(s.unknown_frees == 1, "unknown_frees %" PRIu64, s.unknown_frees);
		CHECK(s.bytes_allocated == 1760, "bytes_allocated %" PRIu64, s.bytes_allocated);
		CHECK(s.peak_bytes == 1060, "peak_bytes %" PRIu64, s.peak_bytes);
		CHECK(s.peak_time_ms == 18, "peak_time_ms %" PRIu64, s.peak_time_ms);
		CHECK(s.leaked_bytes == 60, "leaked_bytes %" PRIu64, s.leaked_bytes);
		CHECK(s.leaked_blocks == 2, "leaked_blocks %" PRIu64, s.leaked_blocks);
		CHECK(s.duration_ms == 20, "duration_ms %" PRIu64, s.duration_ms);
		CHECK(s.lost_events == 2, "lost_events %" PRIu64, s.lost_events);
		CHECK(s.pid == 4242 && s.ppid == 1, "pid %" PRIu64 " ppid %" PRIu64, s.pid, s.ppid);
		CHECK(!strcmp(s.command, "./prog a b x"), "command '%s'", s.command);
		CHECK(!strcmp(s.exe, "/usr/bin/prog"), "exe '%s'", s.exe);
		CHECK(s.truncated_bytes == 0, "truncated %" PRIu64, s.truncated_bytes);
		CHECK(s.ended && s.end_reason == HL_END_EXIT, "ended %d reason %u", s.ended, s.end_reason);
		CHECK(s.peak_rss_kib == 3000, "peak_rss_kib %" PRIu64, s.peak_rss_kib);
		hl_summary_release(&s);
	}

	/* The hooks see every event with the freed block's size and stack. */
	static const char expect_events[] =
		"ALLOC fn0 t1 n2 0x1000 100 a2 k1 @0 live 100/1\n"
		"ALLOC fn1 t1 n3 0x2000 200 a3 k1 @0 live 300/2\n"
		"FREE fn0 t1 n1 0x1000 100 a2 k1 @5 live 200/1\n"
		"ALLOC fn0 t2 n2 0x1000 50 a2 k1 @15 live 250/2\n"
		"FREE fn2 t2 n3 0x2000 200 a3 k1 @15 live 50/1\n"
		"ALLOC fn2 t2 n3 0x3000 400 a3 k1 @15 live 450/2\n"
		"FREE fn2 t2 n2 0x1000 50 a2 k1 @15 live 400/1\n"
		"FREE fn0 t3 n1 0x9999 0 a0 k0 @15 live 400/1\n"
		"UNDO fn2 t2 n2 0x1000 50 a2 k1 @15 live 450/2\n"
		"FREE fn3 t3 n1 0x7777 0 a0 k0 @15 live 450/2\n"
		"UNDO fn3 t3 n1 0x7777 0 a0 k0 @15 live 450/2\n"
		"REPLACED fn0 t3 n1 0x3000 400 a3 k1 @15 live 50/1\n"
		"ALLOC fn0 t3 n1 0x3000 10 a1 k1 @15 live 60/2\n"
		"ALLOC fn4 t3 n2 0x5000 1000 a2 k1 @18 live 1060/3\n"
		"FREE fn0 t3 n2 0x5000 1000 a2 k1 @18 live 60/2\n";
	struct hook_log h = { 0 };
	struct hl_replay_hooks hooks = { .ctx = &h, .event = h_event };
	struct hl_trace *t;
	struct hl_replay *r = hl_replay_new();
	CHECK(r != NULL, "hl_replay_new");
	CHECK(hl_trace_open(path, &t, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(hl_replay_add_hooks(r, &hooks) == 0, "add_hooks");
	CHECK(hl_replay_run(r, t, err, sizeof(err)) == 0, "run: %s", err);
	put_u8(&h.b, 0);
	CHECK(!strcmp((char *)h.b.p, expect_events), "events differ:\n--- got\n%s--- expected\n%s",
	      (char *)h.b.p, expect_events);

	uint64_t parent = 0, ip = 0;
	CHECK(hl_replay_node_count(r) == 4, "node count %" PRIu64, hl_replay_node_count(r));
	CHECK(hl_replay_node(r, 3, &parent, &ip) == 0 && parent == 1 && ip == 0x400f00,
	      "node 3: parent %" PRIu64 " ip %#" PRIx64, parent, ip);
	CHECK(hl_replay_node(r, 4, NULL, NULL) == -ENOENT, "node 4 should not exist");
	CHECK(hl_replay_module_count(r) == 1, "modules %zu", hl_replay_module_count(r));
	const struct hl_replay_module *m = hl_replay_module_of(r, 2, 0x401010);
	CHECK(m && m->mod.id == 1 && m->mod.build_id_len == 2 && m->mod.build_id[0] == 0xde &&
		      !strcmp(m->mod.path, "/usr/bin/prog") && m->end_node == 4,
	      "module_of");
	CHECK(hl_replay_module_of(r, 2, 0x600000) == NULL, "module_of outside any module");
	const struct hl_info *in = hl_replay_info(r);
	CHECK(in && in->argc == 3 && !strcmp(in->argv[1], "a b"), "info");
	struct buf live = { 0 };
	hl_replay_foreach_live(r, live_sum, &live);
	put_u8(&live, 0);
	CHECK(!strcmp((char *)live.p, "live 0x1000 50 n2\nlive 0x3000 10 n1\n"), "live blocks:\n%s",
	      (char *)live.p);
	hl_replay_free(r);
	hl_trace_close(t);

	free(live.p);
	free(h.b.p);
	free(l.b.p);
	tw_free(&w);
}

/* Addresses that all share their low bits (1M blocks 16 MiB apart): the
 * live table's first hash keeps low bits for locality, so they pile into
 * one run, and without the switch to the scrambling hash every lookup would
 * walk it (about 10^11 probes: the alarm).  The numbers must come out the
 * same either way. */
static void test_colliding_addresses(void)
{
	enum { N = 1000000 };
	struct tw w;
	char err[512];
	struct hl_summary s;
	uint64_t bytes = 0, leaked = 0;

	tw_init(&w, HL_VERSION);
	r_node(&w, 0, 0x401000);
	for (uint64_t i = 0; i < N; i++) {
		r_alloc(&w, HL_FN_MALLOC, 1, (i + 1) << 24, 16 + i % 7);
		bytes += 16 + i % 7;
		if (i % 200000 == 199999)
			tw_block(&w);
	}
	tw_block(&w);
	for (uint64_t i = 0; i < N; i += 2) {
		r_free(&w, HL_FN_FREE, 1, (i + 1) << 24);
		if (i % 400000 == 399998)
			tw_block(&w);
	}
	tw_block(&w);
	for (uint64_t i = 1; i < N; i += 2)
		leaked += 16 + i % 7;

	char *path = tmp_path("collide.hlt");
	write_file(path, w.file.p, w.file.len);
	int ret = hl_summary_of(path, &s, err, sizeof(err));
	CHECK(ret == 0, "summary failed: %s", err);
	if (ret == 0) {
		CHECK(s.allocations == N && s.frees == N / 2 && s.unknown_frees == 0,
		      "allocations %" PRIu64 " frees %" PRIu64 " unknown %" PRIu64, s.allocations,
		      s.frees, s.unknown_frees);
		CHECK(s.bytes_allocated == bytes && s.peak_bytes == bytes,
		      "bytes %" PRIu64 " peak %" PRIu64, s.bytes_allocated, s.peak_bytes);
		CHECK(s.leaked_bytes == leaked && s.leaked_blocks == N / 2,
		      "leaked %" PRIu64 " in %" PRIu64, s.leaked_bytes, s.leaked_blocks);
		hl_summary_release(&s);
	}
	tw_free(&w);
}

/* A large live set at scattered addresses, against a model kept here:
 * 400k blocks live at once make the live table double in place (mremap)
 * three times, with runs that wrap around its end; every count, the peak
 * and the blocks left must come out as the model says. */
static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct live_model {
	uint64_t n, sum_ptr, bytes;
	/* with born: each block's allocation number, by 16-byte granule from
	 * base; out_of_order counts blocks visited before an older one */
	const uint64_t *born;
	uint64_t base, last_born, out_of_order;
};

static int model_sum(void *ctx, uint64_t ptr, uint64_t size, uint64_t node)
{
	struct live_model *m = ctx;
	(void)node;
	m->n++;
	m->sum_ptr += ptr;
	m->bytes += size;
	if (m->born) {
		uint64_t b = m->born[(ptr - m->base) / 16];
		if (b <= m->last_born)
			m->out_of_order++;
		m->last_born = b;
	}
	return 0;
}

/* What a replay of a modelled trace must count (no unknown frees). */
struct model_counts {
	uint64_t allocs, frees, bytes, peak, nlive, cur;
};

static void check_counts(const struct hl_replay *r, const char *what, struct model_counts m)
{
	struct hl_summary s;

	CHECK(hl_replay_summary(r, &s) == 0, "summary");
	CHECK(s.allocations == m.allocs && s.frees == m.frees && s.unknown_frees == 0 &&
		      s.bytes_allocated == m.bytes && s.peak_bytes == m.peak &&
		      s.leaked_blocks == m.nlive && s.leaked_bytes == m.cur,
	      "%s: %" PRIu64 "/%" PRIu64 " allocations, %" PRIu64 "/%" PRIu64 " frees, %" PRIu64
	      " unknown, peak %" PRIu64 "/%" PRIu64 ", leaked %" PRIu64 "/%" PRIu64 " in %" PRIu64
	      "/%" PRIu64,
	      what, s.allocations, m.allocs, s.frees, m.frees, s.unknown_frees, s.peak_bytes, m.peak,
	      s.leaked_bytes, m.cur, s.leaked_blocks, m.nlive);
	hl_summary_release(&s);
}

/* The heap both live-set tests model: which 16-byte granules from a base
 * hold a block, of what size, allocated when, and the live ones in a list
 * to free at random. */
struct heap_model {
	uint64_t granules;
	uint8_t *used;
	uint32_t *live;
	uint64_t *size_of, *born; /* by granule */
	struct model_counts c;
};

static int model_init(struct heap_model *m, uint64_t granules, uint64_t max_live)
{
	memset(m, 0, sizeof(*m));
	m->granules = granules;
	m->used = calloc(granules, 1);
	m->live = malloc(max_live * sizeof(*m->live));
	m->size_of = calloc(granules, sizeof(*m->size_of));
	m->born = calloc(granules, sizeof(*m->born));
	return m->used && m->live && m->size_of && m->born ? 0 : -1;
}

static void model_fini(struct heap_model *m)
{
	free(m->used);
	free(m->live);
	free(m->size_of);
	free(m->born);
}

/* A granule no block holds. */
static uint32_t model_fresh(const struct heap_model *m)
{
	uint32_t g;
	do
		g = (uint32_t)(rng() % m->granules);
	while (m->used[g]);
	return g;
}

/* Allocation number allocs + 1 puts a block of sz at granule g. */
static void model_alloc(struct heap_model *m, uint32_t g, uint64_t sz)
{
	m->used[g] = 1;
	m->size_of[g] = sz;
	m->born[g] = ++m->c.allocs;
	m->live[m->c.nlive++] = g;
	m->c.bytes += sz;
	m->c.cur += sz;
	if (m->c.cur > m->c.peak)
		m->c.peak = m->c.cur;
}

/* Takes live block number k off the list (its granule stays used). */
static uint32_t model_take(struct heap_model *m, uint64_t k)
{
	uint32_t g = m->live[k];
	m->live[k] = m->live[--m->c.nlive];
	m->c.cur -= m->size_of[g];
	return g;
}

/* Frees a live block at random; returns its granule. */
static uint32_t model_free(struct heap_model *m)
{
	uint32_t g = model_take(m, rng() % m->c.nlive);
	m->used[g] = 0;
	m->c.frees++;
	return g;
}

static void big_live_set(int ordered)
{
	enum { WINDOW = 1 << 21, TARGET = 400000, OPS = 1500000 };
	const uint64_t base = 0x55550000000ull;
	struct heap_model m;
	struct tw w;
	char err[512];

	if (model_init(&m, WINDOW, TARGET * 2)) {
		CHECK(0, "out of memory for the model");
		model_fini(&m);
		return;
	}
	tw_init(&w, HL_VERSION);
	r_node(&w, 0, 0x401000);
	for (uint64_t op = 0; op < OPS; op++) {
		int grow = m.c.nlive < TARGET ? rng() % 10 < 8 : rng() % 2;
		if (grow || !m.c.nlive) {
			uint32_t g = model_fresh(&m);
			uint64_t sz = 1 + rng() % 200;
			model_alloc(&m, g, sz);
			r_alloc(&w, HL_FN_MALLOC, 1, base + (uint64_t)g * 16, sz);
		} else {
			r_free(&w, HL_FN_FREE, 1, base + (uint64_t)model_free(&m) * 16);
		}
		if (op % 250000 == 249999)
			tw_block(&w);
	}
	tw_block(&w);
	struct live_model want = {0};
	for (uint64_t i = 0; i < m.c.nlive; i++)
		model_sum(&want, base + (uint64_t)m.live[i] * 16, m.size_of[m.live[i]], 1);

	char *path = tmp_path("big.hlt");
	write_file(path, w.file.p, w.file.len);
	struct hl_trace *t;
	struct hl_replay *r = hl_replay_new();
	if (r && !ordered)
		hl_replay_unordered(r); /* no seq array: the table grows in place */
	CHECK(r && hl_trace_open(path, &t, err, sizeof(err)) == 0, "open: %s", err);
	if (r && t) {
		CHECK(hl_replay_run(r, t, err, sizeof(err)) == 0, "run: %s", err);
		check_counts(r, "big live set", m.c);
		struct live_model got = {.born = ordered ? m.born : NULL, .base = base};
		hl_replay_foreach_live(r, model_sum, &got);
		CHECK(got.n == want.n && got.sum_ptr == want.sum_ptr && got.bytes == want.bytes,
		      "big live set: %" PRIu64 "/%" PRIu64 " blocks left", got.n, want.n);
		CHECK(got.out_of_order == 0, "big live set: %" PRIu64 " blocks out of allocation order",
		      got.out_of_order);
		hl_trace_close(t);
	}
	hl_replay_free(r);
	tw_free(&w);
	model_fini(&m);
}

static void test_big_live_set(void)
{
	big_live_set(1);
	rng_state = 0x243f6a8885a308d3ull;
	big_live_set(0);
}

/* Version 3's blocks by ordinal, written as the library writes them: some
 * allocations named by ordinal (ALLOC_SEQ), freed by it (FREE_SEQ) while
 * young, BIND to their address when SEQ_BIND_AT allocations old and freed by
 * address from then on; the rest by address, some of them (bound ones too)
 * replaced by an ALLOC at their address, a missed free.  The live set
 * outgrows the replay's ring, so blocks move on to its table.  The replay
 * must count as the model does and list the live blocks in allocation
 * order, under the keys the reader gives: HL_SEQ_KEY(ordinal) for a block
 * allocated by ordinal, and for a block allocated at a bound address. */
enum { SEQ_GRANULES = 1 << 21, SEQ_TARGET = 150000, SEQ_OPS = 1000000, SEQ_BIND_AT = 40000 };

struct seq_model {
	uint64_t n, sum_key, bytes, last_born, out_of_order;
	const uint64_t *born_addr; /* by granule: the allocation number */
	const uint64_t *born_ord;  /* by ordinal key: the allocation number */
	uint64_t base;
};

static int seq_visit(void *ctx, uint64_t key, uint64_t size, uint64_t node)
{
	struct seq_model *m = ctx;
	uint64_t b;

	(void)node;
	m->n++;
	m->sum_key += key;
	m->bytes += size;
	if (m->born_addr) {
		b = key >> 63 ? m->born_ord[key & ~(1ull << 63)] : m->born_addr[(key - m->base) / 16];
		if (b <= m->last_born)
			m->out_of_order++;
		m->last_born = b;
	}
	return 0;
}

static void seq_live_set(int ordered)
{
	const uint64_t base = 0x7f1230000000ull;
	struct heap_model m;
	uint64_t *key_of = calloc(SEQ_GRANULES, sizeof(*key_of)); /* ordinal, or 0 */
	uint8_t *bound = calloc(SEQ_GRANULES, 1);
	uint32_t *g_of_ord = calloc(SEQ_OPS + 2, sizeof(*g_of_ord));
	uint64_t *born_ord = calloc(SEQ_OPS + 2, sizeof(*born_ord));
	uint64_t bind_prev = 0, nbind = 0, nseqfree = 0, nreplaced = 0;
	struct tw w;
	char err[512];

	if (model_init(&m, SEQ_GRANULES, SEQ_TARGET * 2) || !key_of || !bound || !g_of_ord ||
	    !born_ord) {
		CHECK(0, "out of memory for the model");
		goto out;
	}
	tw_init(&w, 3);
	r_node(&w, 0, 0x401000);
	for (uint64_t op = 0; op < SEQ_OPS; op++) {
		int grow = m.c.nlive < SEQ_TARGET ? rng() % 10 < 7 : rng() % 2;
		/* the block the writer's window lets go of before this ALLOC */
		uint64_t q = m.c.allocs + 1 > SEQ_BIND_AT ? m.c.allocs + 1 - SEQ_BIND_AT : 0;
		if (q && g_of_ord[q]) {
			uint32_t g = g_of_ord[q] - 1;
			if (m.used[g] && key_of[g] == q && !bound[g]) {
				put_u8(&w.raw, HL_REC_BIND);
				put_uv(&w.raw, SEQ_BIND_AT);
				put_sv(&w.raw, (int64_t)(base + (uint64_t)g * 16 - bind_prev));
				bind_prev = base + (uint64_t)g * 16;
				bound[g] = 1;
				nbind++;
			}
		}
		if (grow || !m.c.nlive) {
			uint64_t sz = 1 + rng() % 300;
			uint32_t g = 0;
			int replace = m.c.nlive && rng() % 64 == 0;
			if (replace) { /* an address- or bound-named block's */
				uint64_t k = rng() % m.c.nlive;
				g = m.live[k];
				if (key_of[g] && !bound[g]) {
					replace = 0;
				} else {
					model_take(&m, k);
					nreplaced++;
				}
			}
			if (!replace) {
				g = model_fresh(&m);
				key_of[g] = 0;
				bound[g] = 0;
			}
			uint64_t n = m.c.allocs + 1; /* this allocation's number */
			if (!replace && rng() % 2) {
				put_u8(&w.raw, HL_REC_ALLOC_SEQ + HL_FN_MALLOC);
				put_uv(&w.raw, 1);
				put_uv(&w.raw, sz);
				key_of[g] = n;
				g_of_ord[n] = g + 1;
			} else {
				r_alloc(&w, HL_FN_MALLOC, 1, base + (uint64_t)g * 16, sz);
			}
			model_alloc(&m, g, sz);
			if (key_of[g])
				born_ord[key_of[g]] = n;
		} else {
			uint32_t g = model_free(&m);
			if (key_of[g] && !bound[g]) {
				put_u8(&w.raw, HL_REC_FREE_SEQ + HL_FN_FREE);
				put_uv(&w.raw, 1);
				put_uv(&w.raw, m.c.allocs + 1 - key_of[g]);
				nseqfree++;
			} else {
				r_free(&w, HL_FN_FREE, 1, base + (uint64_t)g * 16);
			}
		}
		if (op % 200000 == 199999)
			tw_block(&w);
	}
	tw_block(&w);
	CHECK(nbind > 1000 && nseqfree > 10000 && nreplaced > 1000,
	      "the model did not use every kind: %" PRIu64 " binds, %" PRIu64
	      " frees by ordinal, %" PRIu64 " replaced", nbind, nseqfree, nreplaced);
	struct seq_model want = {0};
	for (uint64_t i = 0; i < m.c.nlive; i++) {
		uint32_t g = m.live[i];
		seq_visit(&want, key_of[g] ? HL_SEQ_KEY(key_of[g]) : base + (uint64_t)g * 16,
			  m.size_of[g], 1);
	}

	char *path = tmp_path("seq.hlt");
	write_file(path, w.file.p, w.file.len);
	struct hl_trace *t = NULL;
	struct hl_replay *r = hl_replay_new();
	if (r && !ordered)
		hl_replay_unordered(r);
	CHECK(r && hl_trace_open(path, &t, err, sizeof(err)) == 0, "open: %s", err);
	if (r && t) {
		CHECK(hl_replay_run(r, t, err, sizeof(err)) == 0, "run: %s", err);
		check_counts(r, "blocks by ordinal", m.c);
		struct seq_model got = {
		    .born_addr = ordered ? m.born : NULL, .born_ord = born_ord, .base = base};
		hl_replay_foreach_live(r, seq_visit, &got);
		CHECK(got.n == want.n && got.sum_key == want.sum_key && got.bytes == want.bytes,
		      "blocks by ordinal: %" PRIu64 "/%" PRIu64 " blocks left, keys %s", got.n,
		      want.n, got.sum_key == want.sum_key ? "right" : "wrong");
		CHECK(got.out_of_order == 0,
		      "blocks by ordinal: %" PRIu64 " blocks out of allocation order",
		      got.out_of_order);
	}
	if (t)
		hl_trace_close(t);
	hl_replay_free(r);
	tw_free(&w);
out:
	model_fini(&m);
	free(key_of);
	free(bound);
	free(g_of_ord);
	free(born_ord);
}

static void test_seq_live_set(void)
{
	seq_live_set(1);
	rng_state = 0x13198a2e03707344ull;
	seq_live_set(0);
}

/* Sizes of 4 GiB and more (kept beside the 16-byte slots): allocated,
 * replaced, freed, undone by a failed realloc, left live; in both orders. */
struct huge_seen {
	uint64_t n, bytes;
	uint64_t ptr[4], size[4];
};

static int huge_live(void *ctx, uint64_t ptr, uint64_t size, uint64_t node)
{
	struct huge_seen *h = ctx;

	(void)node;
	if (h->n < 4) {
		h->ptr[h->n] = ptr;
		h->size[h->n] = size;
	}
	h->n++;
	h->bytes += size;
	return 0;
}

static void test_huge_sizes(void)
{
	const uint64_t G = 1ull << 30;
	struct tw w;
	char err[512];

	tw_init(&w, HL_VERSION);
	r_node(&w, 0, 0x401000);
	r_alloc(&w, HL_FN_MALLOC, 1, 0x10000, 5 * G);	      /* freed */
	r_alloc(&w, HL_FN_MALLOC, 1, 0x20000, 4 * G - 1);     /* the largest inline size, live */
	r_alloc(&w, HL_FN_MALLOC, 1, 0x30000, 4 * G);	      /* replaced below */
	r_alloc(&w, HL_FN_MALLOC, 1, 0x30000, 100);	      /* a missed free: replaces it */
	r_alloc(&w, HL_FN_MALLOC, 1, 0x40000, 7 * G);	      /* realloc'd, which fails */
	r_free(&w, HL_FN_REALLOC, 1, 0x40000);
	r_realloc_fail(&w, 0x40000);			      /* live again, 7 GiB */
	r_free(&w, HL_FN_FREE, 1, 0x10000);
	r_alloc(&w, HL_FN_MALLOC, 1, 0x10000, 3);	      /* the address again, small */
	tw_block(&w);
	char *path = tmp_path("huge.hlt");
	write_file(path, w.file.p, w.file.len);
	for (int ordered = 1; ordered >= 0; ordered--) {
		struct hl_trace *t;
		struct hl_replay *r = hl_replay_new();
		struct hl_summary s;
		struct huge_seen h = {0};

		if (r && !ordered)
			hl_replay_unordered(r);
		CHECK(r && hl_trace_open(path, &t, err, sizeof(err)) == 0, "open: %s", err);
		if (!r || !t)
			break;
		CHECK(hl_replay_run(r, t, err, sizeof(err)) == 0, "run: %s", err);
		CHECK(hl_replay_summary(r, &s) == 0, "summary");
		CHECK(s.allocations == 6 && s.frees == 1 && s.peak_bytes == 16 * G + 99 &&
			      s.bytes_allocated == 20 * G + 102 && s.leaked_blocks == 4 &&
			      s.leaked_bytes == 11 * G + 102,
		      "huge sizes (ordered %d): %" PRIu64 " allocations, %" PRIu64
		      " frees, peak %" PRIu64 ", allocated %" PRIu64 ", leaked %" PRIu64 " in %" PRIu64,
		      ordered, s.allocations, s.frees, s.peak_bytes, s.bytes_allocated,
		      s.leaked_bytes, s.leaked_blocks);
		hl_summary_release(&s);
		CHECK(hl_replay_foreach_live(r, huge_live, &h) == 0 && h.n == 4 &&
			      h.bytes == 11 * G + 102,
		      "huge sizes (ordered %d): %" PRIu64 " live blocks, %" PRIu64 " bytes", ordered,
		      h.n, h.bytes);
		if (ordered)
			CHECK(h.ptr[0] == 0x20000 && h.size[0] == 4 * G - 1 && h.ptr[1] == 0x30000 &&
				      h.size[1] == 100 && h.ptr[2] == 0x40000 && h.size[2] == 7 * G &&
				      h.ptr[3] == 0x10000 && h.size[3] == 3,
			      "huge sizes: live blocks out of allocation order");
		hl_trace_close(t);
		hl_replay_free(r);
	}
	tw_free(&w);
}

/* The live table doubling in place with a run that wraps around its end:
 * at 131072 slots (the first mapped size), five blocks whose slot is
 * C - 5 fill C - 5 .. C - 1 and three whose slot is C - 1 wrap to 0 .. 2.
 * Doubling moves two of the five up; without taking the wrapped run out
 * first, a wrapped block ends up past an emptied slot and its free would
 * not find it. */
static void test_grow_wrap(void)
{
	enum { C = 131072, FILL = 98400 };
	const uint64_t base = 0x7f0000000000ull; /* granule 0 is slot 0 */
	struct tw w;
	char err[512];
	struct hl_summary s;
	uint64_t n = 0;

	tw_init(&w, HL_VERSION);
	r_node(&w, 0, 0x401000);
	for (uint64_t i = 0; i < 50000; i++, n++) /* the table reaches C slots */
		r_alloc(&w, HL_FN_MALLOC, 1, base + (100 + i) * 16, 8);
	for (uint64_t j = 0; j < 5; j++, n++)
		r_alloc(&w, HL_FN_MALLOC, 1, base + (C - 5 + j * C) * 16, 100);
	for (uint64_t k = 1; k <= 3; k++, n++)
		r_alloc(&w, HL_FN_MALLOC, 1, base + (C - 1 + k * C) * 16, 1000);
	for (uint64_t i = 50000; i < FILL; i++, n++) /* past 3/4: it doubles */
		r_alloc(&w, HL_FN_MALLOC, 1, base + (100 + i) * 16, 8);
	for (uint64_t k = 1; k <= 3; k++)
		r_free(&w, HL_FN_FREE, 1, base + (C - 1 + k * C) * 16);
	for (uint64_t j = 0; j < 5; j++)
		r_free(&w, HL_FN_FREE, 1, base + (C - 5 + j * C) * 16);
	tw_block(&w);

	char *path = tmp_path("wrap.hlt");
	write_file(path, w.file.p, w.file.len);
	int ret = hl_summary_of(path, &s, err, sizeof(err));
	CHECK(ret == 0, "summary failed: %s", err);
	if (ret == 0) {
		CHECK(s.allocations == n && s.frees == 8 && s.unknown_frees == 0 &&
			      s.leaked_blocks == FILL && s.leaked_bytes == FILL * 8,
		      "wrapped run: %" PRIu64 " unknown frees, %" PRIu64 " blocks left (want 0, %d)",
		      s.unknown_frees, s.leaked_blocks, FILL);
		hl_summary_release(&s);
	}
	tw_free(&w);
}

/* A second read of the same handle starts again from the first block. */
/* END "signal" carries the signal's number. */
static void test_end_signal(void)
{
	struct tw w;
	struct log l = { 0 };
	uint64_t trunc = 0;
	char err[512];

	tw_init(&w, HL_VERSION);
	r_end(&w, HL_END_SIGNAL, 15, 7);
	tw_block(&w);
	char *path = tmp_path("signal.hlt");
	write_file(path, w.file.p, w.file.len);
	CHECK(read_logged(path, &l, &trunc, err, sizeof(err)) == 0, "read: %s", err);
	put_u8(&l.b, 0);
	put_u8(&w.expect, 0);
	CHECK(!strcmp((char *)l.b.p, (char *)w.expect.p), "decoded:\n%s--- expected\n%s",
	      (char *)l.b.p, (char *)w.expect.p);
	struct hl_summary s;
	CHECK(hl_summary_of(path, &s, err, sizeof(err)) == 0, "summary: %s", err);
	CHECK(s.ended && s.end_reason == HL_END_SIGNAL && s.end_signal == 15, "end %u signal %u",
	      s.end_reason, s.end_signal);
	hl_summary_release(&s);
	free(l.b.p);
	tw_free(&w);
}

static void test_reread(void)
{
	struct tw w;
	size_t b1;
	struct log l1 = { 0 }, l2 = { 0 };
	char err[512];
	struct hl_trace *t;

	build_reference(&w, &b1);
	char *path = tmp_path("reread.hlt");
	write_file(path, w.file.p, w.file.len);
	CHECK(hl_trace_open(path, &t, err, sizeof(err)) == 0, "open: %s", err);
	struct hl_visitor v = log_visitor;
	v.ctx = &l1;
	CHECK(hl_trace_read(t, &v, err, sizeof(err)) == 0, "read 1: %s", err);
	v.ctx = &l2;
	CHECK(hl_trace_read(t, &v, err, sizeof(err)) == 0, "read 2: %s", err);
	CHECK(l1.b.len == l2.b.len && !memcmp(l1.b.p, l2.b.p, l1.b.len), "second read differs");
	unsigned reason = 9;
	CHECK(hl_trace_has_end(t, &reason) && reason == HL_END_EXIT, "has_end");
	CHECK(!strcmp(hl_trace_path(t), path), "path");
	hl_trace_close(t);
	free(l1.b.p);
	free(l2.b.p);
	tw_free(&w);
}

static void test_truncation(void)
{
	struct tw w;
	size_t b1;
	char err[512];

	build_reference(&w, &b1);
	size_t full = w.file.len;
	char *path = tmp_path("trunc.hlt");
	for (size_t len = 0; len <= full; len++) {
		struct log l = { 0 };
		uint64_t trunc = 0;
		write_file(path, w.file.p, len);
		int ret = read_logged(path, &l, &trunc, err, sizeof(err));
		if (len < HL_HEADER_LEN) {
			CHECK(ret == -2 && !strncmp(err, path, strlen(path)),
			      "len %zu: open should fail naming the file, got %d '%s'", len, ret, err);
		} else {
			uint64_t usable = len == full ? full : len >= b1 ? b1 : HL_HEADER_LEN;
			CHECK(ret == 0, "len %zu: read failed: %s", len, err);
			CHECK(trunc == len - usable, "len %zu: truncated %" PRIu64 ", expected %" PRIu64,
			      len, trunc, (uint64_t)(len - usable));
			/* Exactly the first block's records when cut in the second. */
			size_t nrec = 0;
			for (size_t i = 0; i < l.b.len; i++)
				nrec += l.b.p[i] == '\n';
			size_t want = len == full ? 31 : len >= b1 ? 11 : 0;
			CHECK(nrec == want, "len %zu: %zu records, expected %zu", len, nrec, want);
			struct hl_summary s;
			CHECK(hl_summary_of(path, &s, err, sizeof(err)) == 0, "len %zu: summary: %s", len,
			      err);
			CHECK(s.truncated_bytes == len - usable, "len %zu: summary truncated %" PRIu64, len,
			      s.truncated_bytes);
			hl_summary_release(&s);
		}
		free(l.b.p);
	}
	tw_free(&w);
}

/* Reads path every way the report does; the result must be a decode or one
 * clean message naming the file. */
static void read_must_be_clean(const char *path, const char *what, size_t pos)
{
	struct log l = { 0 };
	char err[512];
	int ret = read_logged(path, &l, NULL, err, sizeof(err));
	if (ret) {
		CHECK((ret == -1 || ret == -2) && !strncmp(err, path, strlen(path)) &&
			      !strchr(err, '\n') && strlen(err) > strlen(path) + 4,
		      "%s at %zu: ret %d, message '%s'", what, pos, ret, err);
	}
	struct hl_summary s;
	if (hl_summary_of(path, &s, err, sizeof(err)) == 0)
		hl_summary_release(&s);
	free(l.b.p);
}

static void test_bit_flips(void)
{
	struct tw w;
	size_t b1;

	build_reference(&w, &b1);
	char *path = tmp_path("flip.hlt");
	size_t bad = 0, ok = 0;
	for (size_t bit = 0; bit < w.file.len * 8; bit++) {
		w.file.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		write_file(path, w.file.p, w.file.len);
		w.file.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		struct log l = { 0 };
		char err[512];
		if (read_logged(path, &l, NULL, err, sizeof(err))) {
			bad++;
		} else {
			ok++;
			if (getenv("HL_TEST_VERBOSE"))
				printf("flip of bit %zu (byte %zu) still reads\n", bit, bit / 8);
		}
		free(l.b.p);
		read_must_be_clean(path, "bit flip", bit);
	}
	/* The checksums catch flips in the frames; the header flags word and a
	 * few length bits that only shorten into truncation are all that may
	 * still read. */
	printf("bit flips: %zu of %zu detected as errors, the rest read cleanly\n", bad, bad + ok);
	CHECK(bad > ok * 4, "only %zu of %zu flips detected", bad, bad + ok);
	tw_free(&w);
}

/* Garbage records inside valid frames: the checksum passes, so the record
 * decoder alone must stay safe. */
static void test_garbage_records(void)
{
	struct tw ref;
	size_t b1;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char *path = tmp_path("garbage.hlt");

	build_reference(&ref, &b1);
	for (int iter = 0; iter < 6000; iter++) {
		struct tw g;
		tw_init(&g, HL_VERSION);
		if (iter % 2) {
			/* The reference records with a few bytes changed. */
			buf_put(&g.raw, ref.allraw.p, ref.allraw.len);
			for (int k = 0; k < 1 + iter % 3; k++) {
				seed ^= seed << 13;
				seed ^= seed >> 7;
				seed ^= seed << 17;
				g.raw.p[(seed >> 8) % g.raw.len] = (uint8_t)seed;
			}
		} else {
			size_t n = 1 + (size_t)(seed % 200);
			for (size_t i = 0; i < n; i++) {
				seed ^= seed << 13;
				seed ^= seed >> 7;
				seed ^= seed << 17;
				uint8_t b = (uint8_t)seed;
				/* Often a plausible type byte, so decoding
				 * gets deep before it fails. */
				if (iter % 4 == 0 && i % 3 == 0)
					b = (uint8_t)(b % 0x48);
				put_u8(&g.raw, b);
			}
		}
		tw_block(&g);
		write_file(path, g.file.p, g.file.len);
		read_must_be_clean(path, "garbage records", (size_t)iter);
		tw_free(&g);
	}
	tw_free(&ref);
}

static void expect_error(const char *name, const void *data, size_t len, const char *want)
{
	struct log l = { 0 };
	char err[512], msg[1024];
	char *path = tmp_path(name);
	write_file(path, data, len);
	int ret = read_logged(path, &l, NULL, err, sizeof(err));
	snprintf(msg, sizeof(msg), "%s: %s", path, want);
	CHECK(ret == -1 || ret == -2, "%s: expected an error, got %d", name, ret);
	CHECK(!strncmp(err, msg, strlen(msg)), "%s: message '%s', expected '%s...'", name, err, msg);
	free(l.b.p);
}

/* A one-block trace whose records are raw. */
static void one_block(struct tw *w, const void *raw, size_t n)
{
	tw_init(w, HL_VERSION);
	buf_put(&w->raw, raw, n);
	tw_block(w);
}

static void test_bad_files(void)
{
	struct tw w;
	uint8_t h[64];

	expect_error("empty.hlt", "", 0, "empty file, not a heapline trace");
	expect_error("text.hlt", "hello, world\nthis is not a trace\n", 32, "not a heapline trace");
	memcpy(h, "HEAPLINX", 8);
	hl_put_u32le(h + 8, 1);
	hl_put_u32le(h + 12, 0);
	expect_error("magic.hlt", h, 16, "not a heapline trace");
	memcpy(h, HL_MAGIC, 8);
	hl_put_u32le(h + 8, HL_VERSION + 1);
	expect_error("newer.hlt", h, 16,
		     "trace format version 4 is newer than this heapline supports (3)");
	expect_error("short-header.hlt", "HEAPLINE\x01\x00", 10, "trace truncated inside its header");

	/* A header alone is a valid empty trace (killed before any block). */
	hl_put_u32le(h + 8, 1);
	write_file(tmp_path("header-only.hlt"), h, 16);
	struct hl_summary s;
	char err[512];
	CHECK(hl_summary_of(tmp_path("header-only.hlt"), &s, err, sizeof(err)) == 0,
	      "header-only: %s", err);
	CHECK(s.allocations == 0 && !s.ended && !strcmp(s.command, ""), "header-only summary");
	hl_summary_release(&s);

	/* Block-level corruption. */
	memcpy(h + 16, "HBLX\x10\0\0\0\x10\0\0\0", 12);
	expect_error("block-magic.hlt", h, 28, "corrupt trace: bad block magic at byte offset 16");
	hl_put_u32le(h + 16, HL_BLOCK_MAGIC);
	hl_put_u32le(h + 24, HL_BLOCK_MAX_RAW + 1);
	expect_error("raw-len.hlt", h, 28, "corrupt trace: impossible block lengths");
	hl_put_u32le(h + 20, 0);
	hl_put_u32le(h + 24, 10);
	expect_error("comp-len.hlt", h, 28, "corrupt trace: impossible block lengths");

	/* Header raw length disagreeing with the frame. */
	one_block(&w, "\x02\x01", 2);
	hl_put_u32le(w.file.p + 24, 3);
	expect_error("raw-mismatch.hlt", w.file.p, w.file.len, "corrupt trace: block header says 3 raw bytes");
	tw_free(&w);

	/* A flipped payload byte: zstd's checksum or its decoder objects. */
	one_block(&w, "\x02\x01\x02\x02\x02\x03", 6);
	w.file.p[w.file.len - 6] ^= 0x40;
	expect_error("checksum.hlt", w.file.p, w.file.len, "corrupt trace: ");
	tw_free(&w);

	/* Record-level corruption, each message names the problem. */
	one_block(&w, "\x01\x00\x02", 3); /* node 1 with parent 1 (id - parent 0) */
	expect_error("node-parent.hlt", w.file.p, w.file.len,
		     "corrupt trace: stack node's parent is not an earlier node (record type 0x01 at offset 0 in the block at byte offset 16)");
	tw_free(&w);
	one_block(&w, "\x01\x02\x02", 3); /* node 1 with parent -1 */
	expect_error("node-parent-before-root.hlt", w.file.p, w.file.len,
		     "corrupt trace: stack node's parent is not an earlier node");
	tw_free(&w);
	one_block(&w, "\x02\x01\x05\x00", 4);
	expect_error("unknown-type.hlt", w.file.p, w.file.len,
		     "corrupt trace: unknown record type (record type 0x05 at offset 2");
	tw_free(&w);
	one_block(&w, "\x19\x00\x00\x00", 4); /* ALLOC with fn 9 */
	expect_error("alloc-fn.hlt", w.file.p, w.file.len, "corrupt trace: unknown record type");
	tw_free(&w);
	one_block(&w, "\x21\x00\x00", 3); /* FREE with fn 1 */
	expect_error("free-fn.hlt", w.file.p, w.file.len, "corrupt trace: unknown record type");
	tw_free(&w);
	one_block(&w, "\x10\x00\x02", 3); /* ALLOC missing its size */
	expect_error("overrun.hlt", w.file.p, w.file.len,
		     "corrupt trace: record runs past the end of its block");
	tw_free(&w);
	one_block(&w, "\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
	expect_error("varint.hlt", w.file.p, w.file.len, "corrupt trace: bad varint");
	tw_free(&w);
	one_block(&w, "\x10\x05\x00\x01", 4); /* ALLOC on an undefined node */
	expect_error("undefined-node.hlt", w.file.p, w.file.len,
		     "corrupt trace: event names a stack node not yet defined");
	tw_free(&w);
	one_block(&w, "\x44\x09\x00\x00", 4); /* END claiming 9 payload bytes */
	expect_error("sized-overrun.hlt", w.file.p, w.file.len,
		     "corrupt trace: record runs past the end of its block");
	tw_free(&w);
	one_block(&w, "\x44\x01\x00", 3); /* END whose payload lacks its ms */
	expect_error("payload-short.hlt", w.file.p, w.file.len,
		     "corrupt trace: fields run past the record's stated length");
	tw_free(&w);
	one_block(&w, "\x40\x08\x01\x01\x01\x01\x00\x00\xff\x00", 10); /* INFO, argc 255 */
	expect_error("info-argc.hlt", w.file.p, w.file.len, "corrupt trace: ");
	tw_free(&w);

	/* Garbage after the last block: a partial header that is not HBLK. */
	one_block(&w, "\x02\x01", 2);
	buf_put(&w.file, "junk", 4);
	expect_error("trailing.hlt", w.file.p, w.file.len, "corrupt trace: bad block magic");
	tw_free(&w);

	/* A missing file. */
	struct log l = { 0 };
	int ret = read_logged(tmp_path("missing.hlt"), &l, NULL, err, sizeof(err));
	CHECK(ret == -2 && strstr(err, "No such file"), "missing file: '%s'", err);
	free(l.b.p);
}

static void cleanup(void)
{
	char cmd[256];
	if (getenv("HL_TEST_KEEP")) { /* leave the crafted traces for a look */
		printf("traces kept in %s\n", tmpdir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 77;
	}
	alarm(300); /* a hang is a failure, not a stuck CI job */

	for (ref_version = 1; ref_version <= HL_VERSION; ref_version++)
		test_valid(); /* every version this reader takes */
	ref_version = HL_VERSION;
	test_reread();
	test_end_signal();
	test_colliding_addresses();
	test_big_live_set();
	test_seq_live_set();
	test_huge_sizes();
	test_grow_wrap();
	test_truncation();
	test_bit_flips();
	test_garbage_records();
	test_bad_files();

	cleanup();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("trace_read: all checks passed\n");
	return 0;
}
