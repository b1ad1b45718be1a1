/* fuzz_trace.c — libFuzzer target for stages 1 and 2 of the report pipeline
 * (report/trace_read.c, report/replay.c): whatever the bytes, reading and
 * replaying a trace ends in a result or a clean error, never a crash, a leak,
 * a hang or a broken contract of trace_read.h / replay.h.
 *
 * An input is one of two things:
 *   - a file, if it is empty or starts with 'H' (as "HEAPLINE" does): written
 *     as is.  This covers the header, the block framing, truncation and zstd
 *     errors.  (0x48 as a record type is only an unknown sized record.)
 *   - otherwise raw record bytes, cut into blocks at each "HBLK"; every piece
 *     is compressed into a checksummed zstd frame and given a block header.
 *     Mutating a real file almost never yields a frame whose checksum holds,
 *     so without this mode the record decoder and the replay would see only
 *     the seeds' records.
 * The reader opens paths, so the trace goes to a memfd opened as /dev/fd/N.
 * HL_FUZZ_SAVE=FILE in the environment also writes the trace built from the
 * last input there, to turn a reproducer into a file `heapline report` reads.
 *
 * On each trace: hl_trace_read twice with a visitor that touches every field
 * (the second read must see exactly what the first did), once stopped early
 * by the visitor, then hl_replay_run with hooks that walk each event's stack,
 * a replay stopped early by a hook, and hl_summary_of.  A broken contract
 * aborts, so libFuzzer reports it like a crash.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, memmem */
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "hl_format.h"
#include "replay.h"
#include "trace_read.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_trace.c:%d: contract broken: %s\n", __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ---- the trace file -------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return;
	b->cap = (b->len + n) * 2;
	b->p = realloc(b->p, b->cap);
	if (!b->p)
		abort();
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (!n) /* the empty input: b->p may still be NULL */
		return;
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* Appends one block holding the records [p, p+n) as the writer would. */
static void put_block(struct buf *b, ZSTD_CCtx *cctx, const uint8_t *p, size_t n)
{
	size_t bound = ZSTD_compressBound(n);
	uint8_t hdr[HL_BLOCK_HDR_LEN];

	buf_reserve(b, HL_BLOCK_HDR_LEN + bound);
	size_t clen = ZSTD_compress2(cctx, b->p + b->len + HL_BLOCK_HDR_LEN, bound, p, n);
	if (ZSTD_isError(clen))
		abort();
	hl_put_u32le(hdr, HL_BLOCK_MAGIC);
	hl_put_u32le(hdr + 4, (uint32_t)clen);
	hl_put_u32le(hdr + 8, (uint32_t)n);
	memcpy(b->p + b->len, hdr, sizeof(hdr));
	b->len += HL_BLOCK_HDR_LEN + clen;
}

/* Makes the trace file's bytes from a fuzzer input (see the top comment). */
static void make_trace(struct buf *out, const uint8_t *data, size_t size)
{
	static ZSTD_CCtx *cctx;
	static const uint8_t sep[4] = {'H', 'B', 'L', 'K'};
	uint8_t hdr[HL_HEADER_LEN];

	out->len = 0;
	if (size == 0 || data[0] == HL_MAGIC[0]) {
		buf_put(out, data, size);
		return;
	}
	if (!cctx) {
		cctx = ZSTD_createCCtx();
		if (!cctx || ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1)))
			abort();
	}
	memcpy(hdr, HL_MAGIC, HL_MAGIC_LEN);
	hl_put_u32le(hdr + 8, HL_VERSION);
	hl_put_u32le(hdr + 12, 0);
	buf_put(out, hdr, sizeof(hdr));
	for (;;) {
		const uint8_t *cut = size ? memmem(data, size, sep, sizeof(sep)) : NULL;
		size_t n = cut ? (size_t)(cut - data) : size;
		if (n || !cut) /* no empty block between two separators */
			put_block(out, cctx, data, n);
		if (!cut)
			break;
		data += n + sizeof(sep);
		size -= n + sizeof(sep);
	}
}

/* ---- reading: a visitor that touches everything ------------------------------ */

struct seen {
	uint64_t hash, calls, stop_after; /* stop_after 0: never stop */
	uint64_t nodes;			  /* node ids handed out so far */
	uint64_t last_ms;
	volatile size_t sink; /* string lengths, so every byte is read */
};

static int mix(struct seen *s, uint64_t tag, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t h = s->hash ^ tag;
	h = (h ^ a) * 0x100000001b3ull;
	h = (h ^ b) * 0x100000001b3ull;
	h = (h ^ c) * 0x100000001b3ull;
	s->hash = h;
	return s->stop_after && ++s->calls >= s->stop_after ? 7 : 0;
}

static uint64_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *c = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

static int v_info(void *ctx, const struct hl_info *in)
{
	struct seen *s = ctx;
	uint64_t h =
	    hash_bytes(in->exe, strlen(in->exe)) ^ hash_bytes(in->version, strlen(in->version));
	for (uint64_t i = 0; i < in->argc; i++)
		h = h * 31 + hash_bytes(in->argv[i], strlen(in->argv[i]));
	s->sink += strlen(in->exe);
	return mix(s, 1, in->pid ^ in->ppid ^ in->start_unix_ms,
		   in->max_depth ^ in->flags ^ in->argc, h);
}

static int v_node(void *ctx, uint64_t id, uint64_t parent, uint64_t ip)
{
	struct seen *s = ctx;
	/* trace-format.md: ids are implicit, 1, 2, ...; a parent comes first. */
	CHECK(id == s->nodes + 1);
	CHECK(parent < id);
	s->nodes = id;
	return mix(s, 2, id, parent, ip);
}

static int v_thread(void *ctx, uint64_t tid)
{
	return mix(ctx, 3, tid, 0, 0);
}

static int v_time(void *ctx, uint64_t ms, uint64_t rss_kib)
{
	struct seen *s = ctx;
	CHECK(ms >= s->last_ms); /* absolute times never go back */
	s->last_ms = ms;
	return mix(s, 4, ms, rss_kib, 0);
}

static int v_alloc(void *ctx, unsigned fn, uint64_t node, uint64_t ptr, uint64_t size)
{
	struct seen *s = ctx;
	CHECK(fn < HL_FN_COUNT);
	CHECK(node <= s->nodes);
	return mix(s, 5, fn ^ node << 4, ptr, size);
}

static int v_free(void *ctx, unsigned fn, uint64_t node, uint64_t ptr)
{
	struct seen *s = ctx;
	CHECK(fn == HL_FN_FREE || fn == HL_FN_REALLOC || fn == HL_FN_REALLOCARRAY);
	CHECK(node <= s->nodes);
	return mix(s, 6, fn, node, ptr);
}

static int v_realloc_fail(void *ctx, uint64_t ptr)
{
	return mix(ctx, 7, ptr, 0, 0);
}

static int v_module_load(void *ctx, const struct hl_module *m)
{
	struct seen *s = ctx;
	s->sink += strlen(m->path);
	return mix(s, 8, m->id ^ m->bias, m->lo ^ m->hi,
		   hash_bytes(m->path, strlen(m->path)) ^ hash_bytes(m->build_id, m->build_id_len));
}

static int v_module_unload(void *ctx, uint64_t id)
{
	return mix(ctx, 9, id, 0, 0);
}

static int v_lost(void *ctx, uint64_t count)
{
	return mix(ctx, 10, count, 0, 0);
}

static int v_leak(void *ctx, uint64_t ptr, unsigned leak_class)
{
	CHECK(leak_class <= HL_LEAK_REACHABLE);
	return mix(ctx, 12, ptr, leak_class, 0);
}

static int v_leak_scan(void *ctx, const struct hl_leak_scan *sc)
{
	return mix(ctx, 13, sc->blocks ^ sc->scan_us, sc->root_bytes ^ sc->block_bytes, sc->flags);
}

static int v_end(void *ctx, unsigned reason, unsigned sig, uint64_t ms)
{
	return mix(ctx, 11, reason, ms, sig);
}

/* One hl_trace_read; returns its result, the hash of what it saw in *hash. */
static int read_once(struct hl_trace *t, uint64_t stop_after, uint64_t *hash)
{
	struct seen s = {.stop_after = stop_after};
	const struct hl_visitor v = {
	    .ctx = &s,
	    .info = v_info,
	    .node = v_node,
	    .thread = v_thread,
	    .time = v_time,
	    .alloc = v_alloc,
	    .free = v_free,
	    .realloc_fail = v_realloc_fail,
	    .module_load = v_module_load,
	    .module_unload = v_module_unload,
	    .lost = v_lost,
	    .end = v_end,
	    .leak = v_leak,
	    .leak_scan = v_leak_scan,
	};
	char err[512] = "";
	int ret = hl_trace_read(t, &v, err, sizeof(err));
	CHECK(ret == 0 || ret == -1 || ret == 7);
	CHECK(ret != -1 || err[0]); /* an error always says why */
	unsigned reason = 0;
	s.hash = (s.hash ^ hl_trace_truncated_bytes(t)) * 0x100000001b3ull;
	s.hash ^= (uint64_t)hl_trace_has_end(t, &reason) << 32 | reason;
	*hash = s.hash;
	return ret;
}

static void fuzz_reader(const char *path, uint64_t stop_after)
{
	struct hl_trace *t;
	char err[512];
	uint64_t h1, h2, h3;

	if (hl_trace_open(path, &t, err, sizeof(err))) {
		CHECK(t == NULL && err[0]);
		return;
	}
	CHECK(!strcmp(hl_trace_path(t), path));
	int r1 = read_once(t, 0, &h1);
	int r2 = read_once(t, 0, &h2); /* seeks back: must read the same */
	CHECK(r1 == r2 && h1 == h2);
	read_once(t, stop_after, &h3);
	hl_trace_close(t);
}

/* ---- replaying --------------------------------------------------------------- */

struct watch {
	uint64_t events, stop_after;
	volatile uint64_t sink;
};

static int h_event(void *ctx, const struct hl_replay *r, const struct hl_event *ev)
{
	struct watch *w = ctx;
	uint64_t n = hl_replay_node_count(r), parent, ip, node = ev->node;

	CHECK(ev->kind >= HL_EV_ALLOC && ev->kind <= HL_EV_REPLACED);
	CHECK(ev->node < n && ev->alloc_node < n);
	CHECK(ev->kind != HL_EV_ALLOC || (ev->known && ev->alloc_node == ev->node));
	CHECK(hl_replay_node(r, ev->alloc_node, NULL, NULL) == 0);
	/* What a printer does with an event: walk its stack to the root,
	 * naming each frame's module (bounded: depth is up to the trace). */
	for (int depth = 0; node && depth < 64; depth++) {
		CHECK(hl_replay_node(r, node, &parent, &ip) == 0);
		CHECK(parent < node);
		const struct hl_replay_module *m = depth ? NULL : hl_replay_module_of(r, node, ip);
		if (m)
			w->sink += strlen(m->mod.path) + m->mod.build_id_len;
		node = parent;
	}
	w->sink += ev->thread ^ ev->size ^ ev->ptr ^ ev->time_ms ^ ev->live_bytes ^ ev->live_blocks;
	return w->stop_after && ++w->events >= w->stop_after ? 42 : 0;
}

static int h_tick(void *ctx, const struct hl_replay *r, uint64_t ms, uint64_t rss_kib,
		  uint64_t live_bytes)
{
	struct watch *w = ctx;
	w->sink += ms ^ rss_kib ^ live_bytes;
	return 0;
}

struct live_sum {
	uint64_t blocks, bytes, nodes;
};

static int count_live(void *ctx, uint64_t ptr, uint64_t size, uint64_t node)
{
	struct live_sum *l = ctx;
	CHECK(node < l->nodes);
	l->blocks++;
	l->bytes += size;
	return 0;
}

/* Runs a replay; stop_after > 0 makes a hook stop it after that many events. */
static void fuzz_replay(const char *path, uint64_t stop_after, int compare_summary_of)
{
	struct hl_trace *t;
	struct hl_replay *r;
	struct hl_summary s, s2;
	struct watch w = {.stop_after = stop_after};
	const struct hl_replay_hooks hooks = {.ctx = &w, .event = h_event, .tick = h_tick};
	char err[512] = "";

	if (hl_trace_open(path, &t, err, sizeof(err)))
		return;
	r = hl_replay_new();
	CHECK(r);
	CHECK(hl_replay_add_hooks(r, &hooks) == 0);
	int ret = hl_replay_run(r, t, err, sizeof(err));
	CHECK(ret == 0 || ret == -1 || (stop_after && ret == 42));
	CHECK(ret != -1 || err[0]);
	CHECK(hl_replay_run(r, t, err, sizeof(err)) == -1); /* a replay runs once */

	/* Whatever happened, the state so far is consistent. */
	CHECK(hl_replay_summary(r, &s) == 0);
	CHECK(s.command && s.exe);
	uint64_t n = hl_replay_node_count(r);
	CHECK(n >= 1);
	for (uint64_t id = 1; id < n; id++) {
		uint64_t parent, ip;
		CHECK(hl_replay_node(r, id, &parent, &ip) == 0);
		CHECK(parent < id);
	}
	CHECK(hl_replay_node(r, n, NULL, NULL) == -ENOENT);
	for (size_t i = 0; i < hl_replay_module_count(r); i++) {
		const struct hl_replay_module *m = hl_replay_module(r, i);
		CHECK(m && m->first_node <= n && m->first_node <= m->end_node);
		w.sink += strlen(m->mod.path);
	}
	CHECK(hl_replay_module(r, hl_replay_module_count(r)) == NULL);
	const struct hl_info *info = hl_replay_info(r);
	if (info)
		w.sink += strlen(info->exe) + strlen(info->version) + info->argc;
	struct live_sum l = {.nodes = n};
	CHECK(hl_replay_foreach_live(r, count_live, &l) == 0);
	CHECK(l.blocks == s.leaked_blocks && l.bytes == s.leaked_bytes);
	CHECK(s.unknown_frees <= s.frees);

	if (compare_summary_of && ret == 0) {
		/* The convenience call is the same replay without hooks. */
		CHECK(hl_summary_of(path, &s2, err, sizeof(err)) == 0);
		CHECK(s2.allocations == s.allocations && s2.frees == s.frees &&
		      s2.bytes_allocated == s.bytes_allocated && s2.peak_bytes == s.peak_bytes &&
		      s2.leaked_bytes == s.leaked_bytes && s2.leaked_blocks == s.leaked_blocks &&
		      s2.unknown_frees == s.unknown_frees &&
		      s2.truncated_bytes == s.truncated_bytes && s2.ended == s.ended &&
		      !strcmp(s2.command, s.command));
		hl_summary_release(&s2);
	} else if (compare_summary_of) {
		CHECK(hl_summary_of(path, &s2, err, sizeof(err)) == -1 && err[0]);
		hl_summary_release(&s2); /* zeroed on failure: a no-op */
	}
	hl_summary_release(&s);
	hl_replay_free(r);
	hl_trace_close(t);
}

/* ---- the entry point ------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	static struct buf trace;

	if (fd < 0) {
		fd = memfd_create("hl-fuzz-trace", MFD_CLOEXEC);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/dev/fd/%d", fd);
	}
	make_trace(&trace, data, size);
	if (ftruncate(fd, 0) || pwrite(fd, trace.p, trace.len, 0) != (ssize_t)trace.len) {
		perror("memfd write");
		abort();
	}
	const char *save = getenv("HL_FUZZ_SAVE");
	if (save) {
		FILE *f = fopen(save, "wb");
		if (f) {
			fwrite(trace.p, 1, trace.len, f);
			fclose(f);
		}
	}

	/* Where the early stops fall is a function of the input, so the
	 * fuzzer reaches every stop point of short traces. */
	uint64_t stop = 1 + (size ? data[size - 1] % 16 : 0);
	fuzz_reader(path, stop);
	fuzz_replay(path, 0, 1);
	fuzz_replay(path, stop, 0);
	return 0;
}
