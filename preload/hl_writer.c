/* hl_writer.c — the writer thread: drains the ring, turns events into trace
 * records (hl_encode), compresses blocks with zstd and writes them.  Exports
 * hl_writer_*.  Never calls malloc for its own data (hl_arena; zstd is given
 * a custom allocator); runs with every signal blocked so the program's
 * signals never land here; its hook guard is always set so anything libc
 * allocates on its behalf passes through unrecorded.
 *
 * Cadence: it wakes at least every 5 ms, writes a TIME+RSS record when 10 ms
 * have passed, and writes a block at least every 50 ms while there is data, so
 * a program killed by SIGKILL loses at most the last ~60 ms.
 *
 * Compression is incremental: each time COMPRESS_STEP more bytes of records
 * are encoded, zstd compresses them into the block's frame (the encoder's
 * buffer is zstd's stable input, so nothing is copied), and writing the block
 * only finishes the frame.  The ring then never waits for a whole block's
 * compression, which is what lets it be small (HEAPLINE_RING_KIB).
 *
 * Level: zstd level 3, or level 6 (lazy matching, same table sizes) for a
 * block that follows a calm one: fewer than CALM_RATE raw bytes a second, no
 * producer waiting on a full ring, and a second CPU.  Level 6 compresses
 * ~3x slower and made traces 9% smaller for perl, 1% for python (whose
 * fastest phase runs at level 3); a tight loop produces records too fast
 * for it and stays at level 3, where its random sizes also compress better.
 *
 * After the library's destructor every event is flushed on its own (see
 * hl_hooks.c): those one-event blocks are compressed at level 1 without a
 * prefix.  zstd indexes a prefix in full for every frame, and 1 MiB of it
 * for each of the ~2000 frees in clang's later destructors took 15 s.
 *
 * Flush protocol (exit, exec, _exit, abort): the requester bumps flush_req
 * and wakes the ring's consumer; the writer notes the ring's produced
 * position, drains up to it, writes the block, then publishes flush_done
 * (release, pairs with the requester's acquire) and wakes it. */
#include "hl_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem: zstd must not call malloc */
#include <zstd.h>

#include "hl_arena.h"
#include "hl_encode.h"
#include "hl_fds.h"
#include "hl_format.h"
#include "hl_hooks.h"
#include "hl_leak.h"
#include "hl_modules.h"
#include "hl_options.h"
#include "hl_output.h"
#include "hl_ring.h"
#include "hl_state.h"
#include "hl_unwind.h"

#define uthash_malloc(sz)    hl_arena_alloc(sz)
#define uthash_free(ptr, sz) hl_arena_free(ptr, sz)
#include <uthash.h>

#define TIME_EVERY_MS  10
#define BLOCK_EVERY_MS 50
#define SLEEP_MS       5
#define TRIM_EVERY_MS  100 /* file pages the unwinder read: hl_unwind_trim */
#define ZSTD_LEVEL     3
#define ZSTD_LEVEL_CALM 6
#define ZSTD_LEVEL_SYNC 1 /* one-event blocks (hl_state.sync) */
#define CALM_RATE      (32u << 20) /* raw bytes a second */
#define COMPRESS_STEP  (128u << 10) /* zstd's block size */
#define BLOCK_TARGET   (1u << 20) /* raw bytes: a block is written once it holds this */

/* A thread's last stack, as node ids from the outermost frame down. */
struct thread_stack {
	uint32_t tid;
	uint32_t len;
	uint32_t path[HL_DEPTH_MAX];
	UT_hash_handle hh;
};

static struct {
	struct hl_enc enc;
	struct thread_stack *threads;
	struct thread_stack *last_thread; /* the last thread_of found: runs are common */
	ZSTD_CCtx *zc;
	uint8_t *zbuf;
	size_t zcap;
	ZSTD_inBuffer zin;   /* the encoder's buffer up to the last record given */
	ZSTD_outBuffer zout; /* the block's frame so far, after its header */
	uint64_t frame_ns;   /* when this block's frame began */
	uint64_t ring_full;  /* hl_ring_full_count() then */
	int level;	     /* this frame's */
	int cpus;	     /* this process may run on (affinity), at start */
	int fd;	    /* -1 until the first block is written */
	int statm_fd; /* /proc/self/statm in a seccomp sandbox; -1 before */
	int failed; /* writing failed: drain and discard */
	dev_t dev;  /* identity of the trace file: a program that closes */
	ino_t ino;  /* every fd must not make us write into its own file */
	uint64_t off; /* the file's length: whole blocks written so far */
	uint64_t last_block_ms;
	uint64_t last_trim_ms;
	uint64_t events_seen;
	uint64_t lost_written;
	int ended_by_exec;
	int end_forced; /* put_end ran for a record stuck behind a handler */
	char path[4096];
	pthread_t thread;
	uint8_t *snap; /* the writer's module snapshot buffer (mmap) */
	size_t snap_cap;
} w;

/* Flush handshake. */
static _Atomic uint32_t flush_req, flush_done;
/* This process's writer has tried to create the trace file (creds hooks). */
static _Atomic int trace_tried;
/* hl_writer_flush_end's END, (signal << 8 | reason) + 1 (0: none). */
static _Atomic unsigned end_fallback;
/* hl_writer_pause: the thread is to end once it has nothing to do. */
static _Atomic int pause_req;
static _Atomic pid_t writer_tid; /* the kernel's id of the writer thread */
/* hl_writer_flush_exec's ring positions [stuck_lo, stuck_hi) (stuck_hi 0: none). */
static _Atomic uint64_t stuck_lo, stuck_hi;

uint64_t hl_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
	return (hl_clock_ns() - hl_state.start_ns) / 1000000ull;
}

/* zstd allocates through these: arena memory with the size kept in front. */
static void *z_alloc(void *opaque, size_t n)
{
	(void)opaque;
	uint64_t *p = hl_arena_alloc(n + 16);
	if (!p)
		return NULL;
	p[0] = n + 16;
	return p + 2;
}

static void z_free(void *opaque, void *addr)
{
	(void)opaque;
	if (!addr)
		return;
	uint64_t *p = (uint64_t *)addr - 2;
	hl_arena_free(p, p[0]);
}

static uint64_t rss_kib(void)
{
	char buf[128];
	ssize_t n;
	if (atomic_load_explicit(&hl_state.sandboxed, memory_order_acquire)) {
		/* Opened before the filter (a program closing it leaves 0). */
		n = w.statm_fd >= 0 ? pread(w.statm_fd, buf, sizeof(buf) - 1, 0) : -1;
	} else {
		/* Opened each time: the program may close or reuse any
		 * descriptor. */
		int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *p = strchr(buf, ' ');
	if (!p)
		return 0;
	uint64_t pages = 0;
	for (p++; *p >= '0' && *p <= '9'; p++)
		pages = pages * 10 + (uint64_t)(*p - '0');
	return pages * ((uint64_t)sysconf(_SC_PAGESIZE) / 1024);
}

static void say_once(const char *what)
{
	static int said;
	if (said++)
		return;
	char line[4400];
	size_t n = 0;
	const char *parts[] = {"heapline: ",
			       what,
			       " ",
			       w.path,
			       ": ",
			       strerror(errno),
			       "; the program runs on without profiling\n"};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t l = strlen(parts[i]);
		if (n + l >= sizeof(line))
			break;
		memcpy(line + n, parts[i], l);
		n += l;
	}
	ssize_t r = write(2, line, n);
	(void)r;
}

/* Whether w.fd is still the trace file. */
static int fd_is_trace(int fd)
{
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == w.dev && st.st_ino == w.ino;
}

/* The program closed our descriptor, or opened a file of its own under its
 * number (daemons, and programs that close every descriptor they did not
 * open): open the trace again by its (absolute) path, the same file or
 * none.  The old number is left alone: it may be the program's now. */
static int reopen_trace(void)
{
	if (atomic_load_explicit(&hl_state.sandboxed, memory_order_relaxed))
		return -1; /* an open may be what the filter kills for */
	int fd = hl_fd_high(open(w.path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC), HL_FD_TRACE);
	if (fd >= 0 && !fd_is_trace(fd)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		return -1;
	w.fd = fd;
	return 0;
}

/* Writes n bytes at the end of what the trace holds (w.off): a block cut
 * short by a closed descriptor is written again whole after reopening. */
static int write_all(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t at = w.off;
	int reopened = 0;
	while (n) {
		ssize_t r = pwrite(w.fd, b, n, (off_t)at);
		if (r < 0 && errno == EBADF && !reopened++ && !reopen_trace()) {
			n += (size_t)(b - (const uint8_t *)p);
			b = p;
			at = w.off;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		at += (uint64_t)r;
		n -= (size_t)r;
	}
	w.off = at;
	return 0;
}

/* zstd's parameters for a frame at level (level 6 with level 3's table
 * sizes: no more memory).  0 or -1. */
static int set_level(int level)
{
	int hash = level == ZSTD_LEVEL_CALM ? 17 : 0, chain = level == ZSTD_LEVEL_CALM ? 16 : 0;

	if (ZSTD_isError(ZSTD_CCtx_setParameter(w.zc, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w.zc, ZSTD_c_hashLog, hash)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w.zc, ZSTD_c_chainLog, chain)))
		return -1;
	w.level = level;
	return 0;
}

/* Starts the next frame: zstd's stable buffers are the encoder's and zbuf.
 * raw bytes went into the frame just finished (0: none was). */
static void frame_reset(size_t raw)
{
	uint64_t now = hl_clock_ns(), full = hl_ring_full_count(hl_state.ring);
	int level = ZSTD_LEVEL;

	int sync = atomic_load_explicit(&hl_state.sync, memory_order_relaxed);

	ZSTD_CCtx_reset(w.zc, ZSTD_reset_session_only);
	if (sync)
		level = ZSTD_LEVEL_SYNC;
	else if (raw && w.cpus > 1 && full == w.ring_full && now > w.frame_ns &&
		 (double)raw * 1e9 / (double)(now - w.frame_ns) < CALM_RATE)
		level = ZSTD_LEVEL_CALM;
	if (level != w.level && set_level(level))
		set_level(ZSTD_LEVEL); /* the default's parameters always take */
	if (sync)
		hl_enc_forget_prev(&w.enc);
	/* The reader gives every block the records before it as its prefix
	 * (up to HL_PREFIX_MAX): whether the frame refers to them is the
	 * writer's choice (HL_ENC_PREFIX_MAX). */
	if (w.enc.prev_len)
		ZSTD_CCtx_refPrefix(w.zc, w.enc.prev, w.enc.prev_len); /* an error: none */
	w.frame_ns = now;
	w.ring_full = full;
	w.zin = (ZSTD_inBuffer){w.enc.buf, 0, 0};
	w.zout = (ZSTD_outBuffer){w.zbuf + HL_BLOCK_HDR_LEN, w.zcap - HL_BLOCK_HDR_LEN, 0};
}

/* Hands zstd the records encoded since the last call (whole records only:
 * the encoder may still rewrite the one it is writing) and lets it compress
 * what fills its blocks; mode ZSTD_e_end finishes the frame.  0, or -1. */
static int compress_more(ZSTD_EndDirective mode)
{
	w.zin.size = w.enc.len;
	for (;;) {
		size_t left = ZSTD_compressStream2(w.zc, &w.zout, &w.zin, mode);
		if (ZSTD_isError(left)) {
			errno = EIO;
			say_once("cannot compress trace");
			w.failed = 1;
			return -1;
		}
		if (mode == ZSTD_e_continue || left == 0)
			return 0;
		if (w.zout.pos == w.zout.size) { /* cannot happen: zcap is zstd's bound */
			errno = ENOSPC;
			say_once("cannot compress trace");
			w.failed = 1;
			return -1;
		}
	}
}

static void write_block(void);

/* Between records: compress if a step's worth of records is waiting. */
static inline void compress_step(void)
{
	if (w.enc.len - w.zin.size < COMPRESS_STEP)
		return;
	if (w.enc.len >= BLOCK_TARGET)
		write_block();
	else if (!w.failed)
		compress_more(ZSTD_e_continue);
}

/* Compresses and writes the block being filled (if any). */
static void write_block(void)
{
	size_t len;
	if (w.enc.len == 0)
		return;
	/* An image that made no allocation and was replaced by exec (a fork
	 * child on its way to exec) leaves no trace; keep the data in case the
	 * exec fails and the program goes on. */
	if (w.fd < 0 && w.ended_by_exec && w.events_seen == 0)
		return;
	if (!w.failed && w.fd < 0) {
		uint8_t hdr[HL_HEADER_LEN];
		memcpy(hdr, HL_MAGIC, HL_MAGIC_LEN);
		hl_put_u32le(hdr + 8, HL_VERSION);
		hl_put_u32le(hdr + 12, 0);
		w.fd = hl_output_open(hl_state.is_root, w.path, sizeof(w.path), hdr, sizeof(hdr));
		atomic_store_explicit(&trace_tried, 1, memory_order_release);
		struct stat st;
		if (w.fd < 0 || fstat(w.fd, &st)) {
			w.failed = 1;
		} else {
			w.dev = st.st_dev;
			w.ino = st.st_ino;
			w.off = sizeof(hdr); /* the header is in (hl_output_open) */
		}
	}
	if (!w.failed)
		compress_more(ZSTD_e_end);
	size_t c = w.zout.pos;
	/* The block's records are dropped even when writing failed: the
	 * writer drains and discards from then on. */
	hl_enc_take(&w.enc, &len);
	frame_reset(len);
	if (w.failed)
		return;
	if (!fd_is_trace(w.fd) && reopen_trace()) {
		errno = EBADF;
		say_once("the program closed the trace file descriptor of");
		w.fd = -1;
		w.failed = 1;
		return;
	}
	hl_put_u32le(w.zbuf, HL_BLOCK_MAGIC);
	hl_put_u32le(w.zbuf + 4, (uint32_t)c);
	hl_put_u32le(w.zbuf + 8, (uint32_t)len);
	if (write_all(w.zbuf, c + HL_BLOCK_HDR_LEN)) {
		say_once("cannot write trace");
		w.failed = 1;
	}
	w.last_block_ms = now_ms();
}

static void ensure_room(size_t n)
{
	if (hl_enc_room(&w.enc) < n)
		write_block();
}

static void put_time(uint64_t ms)
{
	ensure_room(HL_ENC_MAX_EVENT);
	hl_enc_time(&w.enc, ms, rss_kib());
}

static void apply_modules(const void *snap, size_t len)
{
	while (hl_modules_apply(&w.enc, snap, len) == -ENOSPC) {
		if (w.enc.len == 0)
			break; /* a single entry larger than a block: give up on it */
		write_block();
	}
}

/* At the writer's start, before any event: on this thread. */
static void refresh_modules(void)
{
	size_t len = hl_modules_snapshot_fit(&w.snap, &w.snap_cap);
	if (len)
		apply_modules(w.snap, len);
}

/* ---- snapshots while events flow: on a helper thread ------------------- */

/* A frame in a loaded module the writer does not know (another thread met
 * the module first and its snapshot is still to come): the writer asks
 * the loader, whose lock a program thread may hold while it waits for the
 * writer (allocating inside a dl_iterate_phdr callback).  So a helper
 * thread, started the first time, takes the snapshot; the writer waits for
 * it a while, then goes on without (those frames stay without a module)
 * and applies the snapshot when it comes.  Most runs never start it. */
#define MODS_WAIT_MS 50
static struct {
	pthread_t thread;
	int started, failed;	   /* writer only */
	int pending;		   /* asked, not applied yet (writer only) */
	_Atomic uint32_t req, done; /* futex words */
	uint8_t *buf;		   /* the helper's, until done == req */
	size_t cap, len;
} mh;

static void *mods_main(void *arg)
{
	(void)arg;
	hl_hooks_enter_writer(); /* nothing it allocates is recorded */
	prctl(PR_SET_NAME, "heapline-mods", 0, 0, 0);
	uint32_t seen = 0;
	for (;;) {
		uint32_t r = atomic_load_explicit(&mh.req, memory_order_acquire);
		if (r == seen) {
			syscall(SYS_futex, (uint32_t *)&mh.req, FUTEX_WAIT_PRIVATE, seen, NULL,
				NULL, 0);
			continue;
		}
		mh.len = hl_modules_snapshot_fit(&mh.buf, &mh.cap);
		seen = r;
		/* release: the buffer is filled (pairs with the writer's acquire) */
		atomic_store_explicit(&mh.done, r, memory_order_release);
		syscall(SYS_futex, (uint32_t *)&mh.done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

/* Applies the helper's snapshot if it is there.  1 if none is pending. */
static int mods_poll(void)
{
	if (!mh.pending)
		return 1;
	uint32_t r = atomic_load_explicit(&mh.req, memory_order_relaxed);
	if (atomic_load_explicit(&mh.done, memory_order_acquire) != r)
		return 0;
	mh.pending = 0;
	if (mh.len)
		apply_modules(mh.buf, mh.len);
	return 1;
}

static void refresh_modules_async(void)
{
	if (mh.pending && !mods_poll())
		return; /* the last request is still out */
	if (!mh.started && !mh.failed &&
	    !atomic_load_explicit(&hl_state.sandboxed, memory_order_relaxed)) {
		/* The writer blocks every signal: so does its helper. */
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 << 10);
		mh.started = pthread_create(&mh.thread, &attr, mods_main, NULL) == 0;
		mh.failed = !mh.started;
		pthread_attr_destroy(&attr);
	}
	if (!mh.started)
		return;
	uint32_t r = atomic_fetch_add_explicit(&mh.req, 1, memory_order_release) + 1;
	mh.pending = 1;
	syscall(SYS_futex, (uint32_t *)&mh.req, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	for (int waited = 0; waited < MODS_WAIT_MS; waited += 2) {
		uint32_t d = atomic_load_explicit(&mh.done, memory_order_acquire);
		if (d == r)
			break;
		struct timespec ts = {0, 2 * 1000 * 1000};
		syscall(SYS_futex, (uint32_t *)&mh.done, FUTEX_WAIT_PRIVATE, d, &ts, NULL, 0);
	}
	mods_poll();
}

/* Whether the loader has an object at return address ip, without its lock
 * (JIT code and other anonymous memory: none, and no snapshot can help). */
static int in_some_module(uint64_t ip)
{
	struct dl_find_object fo;
	return _dl_find_object((void *)(uintptr_t)(ip - 1), &fo) == 0;
}

static struct thread_stack *thread_of(uint32_t tid)
{
	struct thread_stack *t = w.last_thread;
	if (t && t->tid == tid)
		return t;
	HASH_FIND(hh, w.threads, &tid, sizeof(tid), t);
	if (!t) {
		t = hl_arena_alloc(sizeof(*t));
		if (!t)
			return NULL;
		t->tid = tid;
		HASH_ADD(hh, w.threads, tid, sizeof(tid), t);
	}
	w.last_thread = t;
	return t;
}

static void thread_end(uint32_t tid)
{
	struct thread_stack *t;
	HASH_FIND(hh, w.threads, &tid, sizeof(tid), t);
	if (t) {
		if (w.last_thread == t)
			w.last_thread = NULL;
		HASH_DEL(w.threads, t);
		hl_arena_free(t, sizeof(*t));
	}
}

/* Recently seen stack tails: (parent node, new frames) -> leaf node.  A hit
 * is verified against the trie (walking up from the leaf), so a hash
 * collision costs a lookup, never a wrong stack. */
#define LEAF_CACHE_BITS 14
struct leaf_entry {
	uint64_t hash;
	uint32_t parent, leaf, nnew, pad;
};
static struct leaf_entry *leaf_cache;

static uint64_t tail_hash(uint32_t parent, const uint64_t *ips, uint32_t n)
{
	uint64_t h = (parent + 1) * 0x9e3779b97f4a7c15ull;
	for (uint32_t i = 0; i < n; i++) {
		h = (h ^ ips[i]) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	return h;
}

static void put_end(unsigned reason, unsigned sig)
{
	if (reason == HL_END_EXEC)
		w.ended_by_exec = 1;
	put_time(now_ms());
	ensure_room(HL_ENC_MAX_EVENT);
	hl_enc_end(&w.enc, reason, now_ms(), sig);
}

/* The stack of an event as a node id: the thread's shared outer frames,
 * then the new ones, outermost first. */
static uint32_t stack_node(const struct hl_ev *ev)
{
	struct thread_stack *t = thread_of(ev->tid);
	if (!t)
		return 0;
	uint32_t k = ev->common < t->len ? ev->common : t->len;
	uint32_t parent = k ? t->path[k - 1] : 0;
	uint32_t nnew = ev->nnew;
	if (k + nnew > HL_DEPTH_MAX)
		nnew = HL_DEPTH_MAX - k;
	if (nnew == 0) {
		t->len = k;
		return parent;
	}
	/* The innermost nnew frames; when capped, keep the outer ones. */
	const uint64_t *ips = ev->ips + (ev->nnew - nnew);

	if (!leaf_cache)
		leaf_cache = hl_arena_alloc(sizeof(*leaf_cache) << LEAF_CACHE_BITS);
	uint64_t h = tail_hash(parent, ips, nnew);
	struct leaf_entry *ce = leaf_cache ? &leaf_cache[h & ((1u << LEAF_CACHE_BITS) - 1)] : NULL;
	if (ce && ce->hash == h && ce->parent == parent && ce->nnew == nnew) {
		uint32_t x = ce->leaf, i;
		for (i = 0; i < nnew; i++) {
			if (hl_enc_node_ip(&w.enc, x) != ips[i])
				break;
			t->path[k + nnew - 1 - i] = x;
			x = hl_enc_node_parent(&w.enc, x);
		}
		if (i == nnew && x == parent) {
			t->len = k + nnew;
			return ce->leaf;
		}
	}

	uint32_t n = k;
	int complete = 1;
	for (int i = (int)nnew - 1; i >= 0; i--) {
		uint64_t ip = ips[i];
		uint32_t node = hl_enc_find(&w.enc, parent, ip);
		if (!node) {
			/* A frame in no known module: something was loaded
			 * since the last snapshot (dlopen is not hooked: see
			 * hl_hooks.c). */
			if (!hl_modules_known_ip(ip) && in_some_module(ip))
				refresh_modules_async();
			ensure_room((size_t)(i + 1) * 24 + 2 * HL_ENC_MAX_EVENT);
			node = hl_enc_node(&w.enc, parent, ip);
		}
		if (!node) {
			complete = 0; /* out of memory: keep the outer part */
			break;
		}
		t->path[n++] = node;
		parent = node;
	}
	t->len = n;
	if (complete && ce) {
		ce->hash = h;
		ce->parent = k ? t->path[k - 1] : 0;
		ce->leaf = parent;
		ce->nnew = nnew;
	}
	return parent;
}

static void handle(const struct hl_ev *ev, size_t len)
{
	switch (ev->type) {
	case HL_EV_ALLOC:
	case HL_EV_FREE: {
		if (len < sizeof(*ev) + (size_t)ev->nnew * 8)
			return;
		uint32_t node = stack_node(ev);
		ensure_room(2 * HL_ENC_MAX_EVENT);
		hl_enc_thread(&w.enc, ev->tid);
		if (ev->type == HL_EV_ALLOC)
			hl_enc_alloc(&w.enc, ev->fn, node, ev->ptr, ev->size);
		else
			hl_enc_free(&w.enc, ev->fn, node, ev->ptr);
		if (hl_opt.leak_scan) {
			if (ev->type == HL_EV_ALLOC)
				hl_live_alloc(ev->ptr, ev->size, node);
			else
				hl_live_free(ev->tid, ev->ptr, ev->fn != HL_FN_FREE);
		}
		w.events_seen++;
		break;
	}
	case HL_EV_REALLOC_FAIL:
		ensure_room(2 * HL_ENC_MAX_EVENT);
		hl_enc_thread(&w.enc, ev->tid);
		hl_enc_realloc_fail(&w.enc, ev->ptr);
		if (hl_opt.leak_scan)
			hl_live_realloc_fail(ev->tid, ev->ptr);
		w.events_seen++;
		break;
	case HL_EV_LEAK_SCAN:
		/* Everything before this event is applied to the live set. */
		/* LEAKS names blocks by address: those the trace still
		 * names by ordinal get their address first. */
		while (hl_enc_bind_all(&w.enc) == -ENOSPC)
			write_block();
		/* write_block: the scan's LEAKS records may fill more than
		 * what is left of this block (hl_leak.h). */
		hl_leakscan_run(&w.enc, ev->ptr, write_block);
		break;
	case HL_EV_MODULES:
		if (ev->size <= len - sizeof(*ev))
			apply_modules(ev->ips, ev->size);
		break;
	case HL_EV_THREAD_END:
		thread_end(ev->tid);
		break;
	case HL_EV_END:
		/* A failed exec's END is followed by more events and another
		 * END.  One the writer wrote itself, in place of a record stuck
		 * behind a signal handler, stands for the END that handler
		 * pushed behind that record. */
		if (w.end_forced)
			w.end_forced = 0;
		else
			put_end(ev->fn, (unsigned)ev->ptr);
		break;
	default:
		break;
	}
}

/* Drains committed records; stops at `until` (a ring position) if nonzero,
 * else when the next record is not committed.  Returns records handled. */
static uint64_t drain(uint64_t until)
{
	uint64_t n = 0, waited_since = 0;
	for (;;) {
		if (until && hl_ring_consumed(hl_state.ring) >= until)
			break;
		size_t len;
		const struct hl_ev *ev = hl_ring_peek(hl_state.ring, &len);
		if (!ev) {
			if (!until)
				break;
			/* A producer reserved but has not committed yet.  It will
			 * within microseconds, unless a signal handler interrupted
			 * it and is itself flushing: then give up after a second
			 * rather than spin; after 50 ms when that handler is
			 * ending the process from inside this thread's hook
			 * (hl_writer_flush_end), and write its END here, as the
			 * END it pushed waits behind the stuck record. */
			unsigned end = atomic_load_explicit(&end_fallback, memory_order_acquire);
			uint64_t shi = atomic_load_explicit(&stuck_hi, memory_order_acquire);
			uint64_t at = hl_ring_consumed(hl_state.ring);
			/* hl_writer_flush_exec: a record where the execing
			 * thread may have one waits for the exec to fail, and
			 * the trace must be whole before the exec.  (Another
			 * thread's commits within microseconds, unless it lost
			 * its CPU meanwhile: it gets 20 ms.) */
			if (shi && waited_since && hl_clock_ns() - waited_since > 20000000 &&
			    at >= atomic_load_explicit(&stuck_lo, memory_order_relaxed) &&
			    at < shi) {
				atomic_store_explicit(&stuck_hi, 0, memory_order_relaxed);
				if (!w.end_forced) {
					w.end_forced = 1;
					put_end(HL_END_EXEC, 0);
				}
				break;
			}
			if (!waited_since) {
				waited_since = hl_clock_ns();
			} else if (hl_clock_ns() - waited_since >
				   (end ? 50000000ull : 1000000000ull)) {
				if (end && !w.end_forced) {
					w.end_forced = 1;
					put_end((end - 1) & 0xff, (end - 1) >> 8);
				}
				break;
			}
			sched_yield();
			continue;
		}
		handle(ev, len);
		hl_ring_release(hl_state.ring);
		compress_step();
		waited_since = 0;
		n++;
		if ((n & 1023) == 0) {
			uint64_t ms = now_ms();
			atomic_store_explicit(&hl_state.now_ms, ms, memory_order_relaxed);
			if (ms >= w.enc.last_time_ms + TIME_EVERY_MS)
				put_time(ms);
		}
	}
	uint64_t lost = atomic_load_explicit(&hl_state.lost, memory_order_relaxed);
	if (lost != w.lost_written) {
		ensure_room(HL_ENC_MAX_EVENT);
		hl_enc_lost(&w.enc, lost - w.lost_written);
		w.lost_written = lost;
	}
	return n;
}

static int write_preamble(void)
{
	/* argv from /proc/self/cmdline, into arena memory */
	static char cmd[32768];
	static const char *argv[512];
	size_t argc = 0, n = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r;
		while (n < sizeof(cmd) - 1 && (r = read(fd, cmd + n, sizeof(cmd) - 1 - n)) > 0)
			n += (size_t)r;
		close(fd);
	}
	cmd[n] = '\0';
	for (size_t i = 0; i < n && argc < 512; i += strlen(cmd + i) + 1)
		argv[argc++] = cmd + i;
	static char exe[4096];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[l > 0 ? l : 0] = '\0';
	unsigned flags = (hl_opt.lossy ? HL_INFO_LOSSY : 0u) |
			 (hl_state.own_malloc ? HL_INFO_OWN_MALLOC : 0u);
	if (hl_enc_info(&w.enc, (uint64_t)hl_state.pid, (uint64_t)getppid(), hl_state.start_unix_ms,
			hl_state.depth, flags, exe, argv, argc, HEAPLINE_VERSION))
		return -1;
	refresh_modules();
	put_time(now_ms());
	return 0;
}

static void *writer_main(void *arg)
{
	(void)arg;
	hl_hooks_enter_writer();
	atomic_store(&writer_tid, (pid_t)syscall(SYS_gettid));
	prctl(PR_SET_NAME, "heapline-write", 0, 0, 0);
	uint32_t handled_req = 0;
	for (;;) {
		uint32_t req = atomic_load_explicit(&flush_req, memory_order_acquire);
		uint64_t ms = now_ms();
		atomic_store_explicit(&hl_state.now_ms, ms, memory_order_relaxed);
		uint64_t n;
		if (req != handled_req) {
			uint64_t until = hl_ring_produced(hl_state.ring);
			drain(until);
			n = 1;
		} else {
			n = drain(0);
		}
		ms = now_ms();
		if (n && ms >= w.enc.last_time_ms + TIME_EVERY_MS)
			put_time(ms);
		if (req != handled_req || (w.enc.len && ms >= w.last_block_ms + BLOCK_EVERY_MS)) {
			write_block();
		}
		if (req != handled_req) {
			handled_req = req;
			/* release: pairs with the acquire load in hl_writer_flush */
			atomic_store_explicit(&flush_done, req, memory_order_release);
			syscall(SYS_futex, (uint32_t *)&flush_done, FUTEX_WAKE_PRIVATE, 0x7fffffff,
				NULL, NULL, 0);
			continue;
		}
		mods_poll();
		if (n == 0 && atomic_load_explicit(&pause_req, memory_order_acquire)) {
			write_block();
			return NULL;
		}
		/* Not under a seccomp filter: it may not allow madvise. */
		if (ms >= w.last_trim_ms + TRIM_EVERY_MS &&
		    !atomic_load_explicit(&hl_state.sandboxed, memory_order_relaxed)) {
			w.last_trim_ms = ms;
			hl_unwind_trim();
		}
		if (n == 0)
			hl_ring_consumer_sleep(hl_state.ring, SLEEP_MS);
	}
	return NULL;
}

/* The thread, joinable (hl_writer_pause waits for it to be gone).  0 or -1. */
static int spawn(void)
{
	/* The writer must never receive the program's signals. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	int rc = pthread_create(&w.thread, &attr, writer_main, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		errno = rc;
		return -1;
	}
	return 0;
}

static int writer_start(void)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&hl_state.writer_state, &expected, 1))
		return atomic_load(&hl_state.writer_state) == 1 ? 0 : -1;
	w.fd = -1;
	w.failed = 0;
	w.events_seen = 0;
	w.lost_written = 0;
	w.ended_by_exec = 0;
	w.threads = NULL;
	w.last_thread = NULL;
	leaf_cache = NULL;
	ZSTD_customMem mem = {z_alloc, z_free, NULL};
	w.zc = ZSTD_createCCtx_advanced(mem);
	w.zcap = HL_BLOCK_HDR_LEN + ZSTD_compressBound(HL_BLOCK_MAX_RAW);
	w.zbuf = hl_arena_alloc(w.zcap);
	if (!w.zc || !w.zbuf || hl_enc_init(&w.enc))
		goto fail;
	/* The CPUs this process may run on (taskset, a container's cpuset),
	 * not the machine's. */
	cpu_set_t set;
	w.cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
							       : (int)sysconf(_SC_NPROCESSORS_ONLN);
	w.level = 0;
	if (set_level(ZSTD_LEVEL) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w.zc, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w.zc, ZSTD_c_stableInBuffer, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w.zc, ZSTD_c_stableOutBuffer, 1)))
		goto fail;
	frame_reset(0);
	if (write_preamble())
		goto fail;
	w.last_block_ms = now_ms();
	if (spawn())
		goto fail;
	return 0;
fail:
	say_once("cannot start the trace writer for");
	atomic_store(&hl_state.writer_state, 2);
	atomic_store(&hl_state.active, 0);
	return -1;
}

/* The state says "started" before the thread exists: a signal handler on
 * this thread that ends or execs the process meanwhile would wait for a
 * writer that never comes (10 s, then no trace at all: the first event of
 * a process starts it, see hl_ctor).  So asynchronous signals wait until it
 * runs (hl_unwind.h's quiet section). */
int hl_writer_start(void)
{
	struct hl_quiet q;
	int rc, state = atomic_load(&hl_state.writer_state);

	if (state == 1 || state == 2)
		return state == 1 ? 0 : -1;
	hl_quiet_begin(&q);
	if (state == 3) { /* paused: the same trace goes on */
		rc = -1;
		if (atomic_compare_exchange_strong(&hl_state.writer_state, &state, 1)) {
			rc = spawn();
			if (rc) {
				say_once("cannot restart the trace writer for");
				atomic_store(&hl_state.writer_state, 2);
				atomic_store(&hl_state.active, 0);
			}
		} else {
			rc = atomic_load(&hl_state.writer_state) == 1 ? 0 : -1;
		}
	} else {
		rc = writer_start();
	}
	hl_quiet_end(&q);
	return rc;
}

int hl_writer_pause(void)
{
	if (atomic_load(&hl_state.writer_state) != 1 || mh.started)
		return 0;
	hl_writer_flush(); /* everything so far is in the file */
	atomic_store_explicit(&pause_req, 1, memory_order_release);
	hl_ring_wake_consumer(hl_state.ring);
	if (pthread_join(w.thread, NULL) != 0) {
		atomic_store(&pause_req, 0);
		return 0;
	}
	atomic_store(&pause_req, 0);
	atomic_store(&hl_state.writer_state, 3);
	/* pthread_join returns when the thread's id is cleared, a moment
	 * before the kernel takes it out of the thread group, which is what
	 * unshare(CLONE_NEWUSER) counts: until tgkill no longer finds it
	 * (at most ~100 ms; it is microseconds). */
	pid_t tid = atomic_load(&writer_tid);
	for (int i = 0; tid > 0 && i < 2000 &&
			syscall(SYS_tgkill, (pid_t)getpid(), tid, 0) == 0; i++) {
		struct timespec ts = {0, 50 * 1000};
		nanosleep(&ts, NULL);
	}
	return 1;
}

void hl_writer_flush_end(unsigned reason, unsigned sig)
{
	atomic_store_explicit(&end_fallback, (sig << 8 | reason) + 1, memory_order_release);
	hl_writer_flush();
}

void hl_writer_flush_exec(uint64_t lo, uint64_t hi)
{
	atomic_store_explicit(&stuck_lo, lo, memory_order_relaxed);
	/* release: pairs with the writer's acquire load of stuck_hi */
	atomic_store_explicit(&stuck_hi, hi, memory_order_release);
	hl_writer_flush();
	atomic_store_explicit(&stuck_hi, 0, memory_order_relaxed);
}

int hl_writer_trace_tried(void)
{
	return atomic_load_explicit(&trace_tried, memory_order_acquire);
}

void hl_writer_flush(void)
{
	if (atomic_load(&hl_state.writer_state) != 1)
		return;
	uint32_t req = atomic_fetch_add_explicit(&flush_req, 1, memory_order_acq_rel) + 1;
	hl_ring_wake_consumer(hl_state.ring);
	uint64_t deadline = hl_clock_ns() + 10ull * 1000000000ull;
	for (;;) {
		/* acquire: pairs with the writer's release store of flush_done */
		uint32_t done = atomic_load_explicit(&flush_done, memory_order_acquire);
		if ((int32_t)(done - req) >= 0)
			return;
		if (hl_clock_ns() > deadline)
			return; /* never hang the program on the profiler */
		struct timespec ts = {0, 2 * 1000 * 1000};
		syscall(SYS_futex, (uint32_t *)&flush_done, FUTEX_WAIT_PRIVATE, done, &ts, NULL, 0);
	}
}

void hl_writer_forget(void)
{
	/* The parent's writer thread does not exist in this child; its memory
	 * (arena, zstd context) is abandoned with the arena.  The trace fd
	 * belongs to the parent's trace: close our copy. */
	struct stat st;
	if (w.fd >= 0 && fstat(w.fd, &st) == 0 && st.st_dev == w.dev && st.st_ino == w.ino)
		close(w.fd); /* only if it is still ours */
	w.fd = -1;
	atomic_store(&trace_tried, 0);
	atomic_store(&end_fallback, 0);
	atomic_store(&stuck_hi, 0);
	w.end_forced = 0;
	atomic_store(&flush_req, 0);
	atomic_store(&flush_done, 0);
	/* nor does the modules helper (its buffer is left) */
	mh.started = mh.failed = mh.pending = 0;
	mh.buf = NULL;
	mh.cap = mh.len = 0;
	atomic_store(&mh.req, 0);
	atomic_store(&mh.done, 0);
	hl_state.writer_state = 0;
}

void hl_writer_sandbox(void)
{
	if (atomic_load(&hl_state.sandboxed))
		return;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	w.statm_fd = fd >= 0 ? hl_fd_high(fd, HL_FD_STATM) : -1;
	/* release: the writer reads statm_fd after it sees the flag */
	atomic_store_explicit(&hl_state.sandboxed, 1, memory_order_release);
}
