/* hl_encode.c — record encoding and the stack trie.  Exports hl_enc_*.
 * Never calls malloc (uthash is pointed at hl_arena) and never does I/O.
 *
 * The trie: a stack is a path from the outermost frame (child of the root,
 * node 0) to the innermost.  Each node is (parent id, ip); a hash table finds
 * the child of a node for an ip.  A new node is written as a NODE record once,
 * so the trace holds every distinct frame-path exactly once and an event
 * names its whole stack by one varint. */
#include "hl_encode.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hl_arena.h"
#include "hl_format.h"

/* The trie's index: an open-addressing table of node ids (4 bytes a slot,
 * linear probing, at most three quarters full), keyed by (parent, ip) read
 * from node_parent[] and node_ip[].  Nodes are never removed.  It replaced
 * uthash, whose 80-byte entry per node (handle, key, id) plus buckets made
 * the stack trie most of the profiler's memory on programs with many
 * distinct stacks (python3: 102k nodes, ~15 MB; now ~2 MB with the
 * arrays). */
#define TRIE_MIN_SLOTS 8192u

static inline uint64_t trie_hash(uint32_t parent, uint64_t ip)
{
	return (ip ^ (parent * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
}

/* The slot holding (parent, ip)'s id, or the empty slot where it goes. */
static inline uint32_t *trie_slot(const struct hl_enc *e, uint32_t parent, uint64_t ip)
{
	uint64_t mask = e->trie_slots - 1, i = trie_hash(parent, ip) >> 32 & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t id = e->trie[i];
		if (!id || (e->node_ip[id] == ip && e->node_parent[id] == parent))
			return &e->trie[i];
	}
}

/* Doubles the table (or makes the first).  0, or -ENOMEM (the old one stays). */
static int trie_grow(struct hl_enc *e)
{
	size_t slots = e->trie_slots ? e->trie_slots * 2 : TRIE_MIN_SLOTS;
	uint32_t *old = e->trie, *t = hl_arena_alloc(slots * sizeof(*t));
	size_t old_slots = e->trie_slots;

	if (!t)
		return -ENOMEM;
	e->trie = t;
	e->trie_slots = slots;
	for (uint32_t id = 1; id <= e->nodes; id++)
		*trie_slot(e, e->node_parent[id], e->node_ip[id]) = id;
	if (old)
		hl_arena_free(old, old_slots * sizeof(*old));
	return 0;
}

int hl_enc_init(struct hl_enc *e)
{
	memset(e, 0, sizeof(*e));
	e->cap = HL_BLOCK_MAX_RAW;
	/* Pages are touched as used: a program of full blocks keeps writing at
	 * the start, one of short blocks within HL_PREFIX_MAX + a block. */
	e->hist = hl_arena_alloc(HL_PREFIX_MAX + e->cap);
	e->buf = e->prev = e->hist;
	e->node_cap = 4096;
	e->node_ip = hl_arena_alloc(e->node_cap * sizeof(uint64_t));
	e->node_parent = hl_arena_alloc(e->node_cap * sizeof(uint32_t));
	e->win = hl_arena_alloc(HL_ENC_WINDOW * sizeof(*e->win));
	e->win_index = hl_arena_alloc(2 * HL_ENC_WINDOW * sizeof(*e->win_index));
	if (!e->hist || !e->node_ip || !e->node_parent || !e->win || !e->win_index ||
	    trie_grow(e))
		return -ENOMEM;
	return 0;
}

void hl_enc_fini(struct hl_enc *e)
{
	if (e->trie)
		hl_arena_free(e->trie, e->trie_slots * sizeof(*e->trie));
	if (e->hist)
		hl_arena_free(e->hist, HL_PREFIX_MAX + e->cap);
	hl_arena_free(e->node_ip, e->node_cap * sizeof(uint64_t));
	hl_arena_free(e->node_parent, e->node_cap * sizeof(uint32_t));
	if (e->win)
		hl_arena_free(e->win, HL_ENC_WINDOW * sizeof(*e->win));
	if (e->win_index)
		hl_arena_free(e->win_index, 2 * HL_ENC_WINDOW * sizeof(*e->win_index));
	memset(e, 0, sizeof(*e));
}

const uint8_t *hl_enc_take(struct hl_enc *e, size_t *len)
{
	uint8_t *b = e->buf;
	size_t end = (size_t)(b - e->hist) + e->len; /* of the records kept */

	*len = e->len;
	if (!e->len)
		return b;
	if (e->len >= HL_ENC_PREFIX_MAX) {
		e->buf = e->prev = e->hist;
		e->prev_len = 0;
		e->len = 0;
		return b;
	}
	if (end > HL_PREFIX_MAX) { /* keep the last HL_PREFIX_MAX bytes, at the start */
		memmove(e->hist, e->hist + end - HL_PREFIX_MAX, HL_PREFIX_MAX);
		b = e->hist + HL_PREFIX_MAX - e->len;
		end = HL_PREFIX_MAX;
	}
	e->buf = e->hist + end;
	e->prev = e->hist;
	e->prev_len = end;
	e->len = 0;
	return b;
}

void hl_enc_forget_prev(struct hl_enc *e)
{
	if (e->len)
		return;
	e->buf = e->prev = e->hist;
	e->prev_len = 0;
}

static inline void put_byte(struct hl_enc *e, uint8_t b)
{
	e->buf[e->len++] = b;
}

static inline void put_uv(struct hl_enc *e, uint64_t v)
{
	e->len += hl_put_uv(e->buf + e->len, v);
}

static inline void put_sv(struct hl_enc *e, int64_t v)
{
	e->len += hl_put_sv(e->buf + e->len, v);
}

static inline void put_ptr(struct hl_enc *e, uint64_t ptr)
{
	put_sv(e, (int64_t)(ptr - e->prev_ptr));
	e->prev_ptr = ptr;
}

uint32_t hl_enc_find(struct hl_enc *e, uint32_t parent, uint64_t ip)
{
	return *trie_slot(e, parent, ip);
}

uint32_t hl_enc_node(struct hl_enc *e, uint32_t parent, uint64_t ip)
{
	uint32_t *slot = trie_slot(e, parent, ip), id;

	if (*slot)
		return *slot;
	if (e->nodes + 1 >= e->node_cap) {
		uint64_t *grown = hl_arena_grow(e->node_ip, e->node_cap * sizeof(uint64_t),
						2 * e->node_cap * sizeof(uint64_t));
		if (!grown)
			return 0;
		e->node_ip = grown;
		uint32_t *gp = hl_arena_grow(e->node_parent, e->node_cap * sizeof(uint32_t),
					     2 * e->node_cap * sizeof(uint32_t));
		if (!gp)
			return 0; /* node_ip grew already; node_cap stays: harmless */
		e->node_parent = gp;
		e->node_cap *= 2; /* the arrays moved, not the table: slot holds */
	}
	if ((e->nodes + 1) * 4 > e->trie_slots * 3) {
		if (trie_grow(e))
			return 0;
		slot = trie_slot(e, parent, ip);
	}
	id = (uint32_t)(e->nodes + 1);
	e->nodes++;
	e->node_ip[id] = ip;
	e->node_parent[id] = parent;
	*slot = id;
	put_byte(e, HL_REC_NODE);
	put_uv(e, id - parent); /* >= 1: small, and 1 for a stack's next frame */
	put_sv(e, (int64_t)(ip - e->node_ip[parent]));
	return id;
}

void hl_enc_thread(struct hl_enc *e, uint64_t tid)
{
	if (tid == e->cur_tid)
		return;
	/* Each thread's pointers follow their own chain: interleaved threads
	 * allocating from their own arenas would make every delta large. */
	e->chain[e->cur_tid % HL_PTR_CHAINS] = e->prev_ptr;
	e->prev_ptr = e->chain[tid % HL_PTR_CHAINS];
	e->cur_tid = tid;
	put_byte(e, HL_REC_THREAD);
	put_uv(e, tid);
}

void hl_enc_time(struct hl_enc *e, uint64_t ms, uint64_t rss_kib)
{
	if (ms < e->last_time_ms)
		ms = e->last_time_ms;
	put_byte(e, HL_REC_TIME);
	put_uv(e, ms - e->last_time_ms);
	put_uv(e, rss_kib);
	e->last_time_ms = ms;
}

/* ---- blocks by ordinal ------------------------------------------------------
 *
 * Most blocks of a C program live briefly, and the addresses that name them
 * are most of a trace's bytes after compression: glibc hands out addresses
 * that deltas do not make regular (cc1: 94% of the compressed trace).  So
 * the encoder keeps its last HL_ENC_WINDOW allocations, and a FREE of one
 * of them names it by how many allocations ago it was made (FREE_SEQ): an
 * allocation that is freed while in the window needs no address at all
 * (ALLOC_SEQ).  One that leaves the window alive gets a BIND with its
 * address, and is freed by address later.  Memory is fixed (512 KiB), and
 * the reader keeps addresses only for BOUND blocks.
 *
 * Whether a new allocation is named by ordinal is decided from how the
 * window's blocks left it lately: freed inside (cheap by ordinal) or pushed
 * out alive (a BIND then costs more than the address in the ALLOC would
 * have: perl's long-lived hash entries).  Blocks named by address stay in
 * the window too, so that the statistics follow the program. */

/* Addresses the window can hold: malloc's are even (the low bit marks
 * "by ordinal"), never 0 (a free slot) and below 2^63 (user space). */
static inline bool windowable(uint64_t ptr)
{
	return ptr && !(ptr & 1) && !(ptr >> 63);
}

#define WIN_MASK (2 * HL_ENC_WINDOW - 1) /* of win_index */

static inline uint64_t win_home(uint64_t ptr)
{
	return (ptr * 0x9e3779b97f4a7c15ull) >> 40 & WIN_MASK;
}

static inline uint32_t *win_slot(const struct hl_enc *e, uint64_t ptr)
{
	uint64_t mask = WIN_MASK, i = win_home(ptr);

	for (;; i = (i + 1) & mask) {
		uint32_t s = e->win_index[i];
		if (!s || (e->win[s - 1] & ~1ull) == ptr)
			return &e->win_index[i];
	}
}

/* Removes an index entry, shifting later ones of its probe run back (no
 * tombstones: the table sees every malloc and free). */
static void win_unindex(struct hl_enc *e, uint32_t *at)
{
	uint64_t mask = WIN_MASK, hole = (uint64_t)(at - e->win_index), i = hole;

	for (;;) {
		i = (i + 1) & mask;
		uint32_t s = e->win_index[i];
		if (!s)
			break;
		uint64_t home = win_home(e->win[s - 1] & ~1ull);
		/* Moves back unless its home lies cyclically in (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			e->win_index[hole] = s;
			hole = i;
		}
	}
	e->win_index[hole] = 0;
}

static inline void note_exit(struct hl_enc *e, uint32_t *counter)
{
	if (++*counter >= 4096) { /* forget the past by halves */
		e->seq_hits >>= 1;
		e->seq_evictions >>= 1;
	}
}

static void put_bind(struct hl_enc *e, uint64_t d, uint64_t ptr)
{
	put_byte(e, HL_REC_BIND);
	put_uv(e, d);
	put_sv(e, (int64_t)(ptr - e->bind_prev));
	e->bind_prev = ptr;
}

void hl_enc_alloc(struct hl_enc *e, unsigned fn, uint32_t node, uint64_t ptr, uint64_t size)
{
	uint64_t n = ++e->allocs, s = n & (HL_ENC_WINDOW - 1), old = e->win[s];
	bool seq = false;

	if (old) { /* ordinal n - HL_ENC_WINDOW leaves the window alive */
		win_unindex(e, win_slot(e, old & ~1ull));
		if (old & 1)
			put_bind(e, HL_ENC_WINDOW, old & ~1ull); /* written before n */
		note_exit(e, &e->seq_evictions);
		e->win[s] = 0;
	}
	if (windowable(ptr)) {
		uint32_t *at = win_slot(e, ptr);
		if (*at) {
			/* Still live here: its FREE was lost (lossy mode).
			 * Named by address, the reader replaces the old block,
			 * as version 2. */
			uint32_t os = *at - 1;
			if (e->win[os] & 1)
				put_bind(e, ((n - 1 - os) & (HL_ENC_WINDOW - 1)) + 1, ptr);
			e->win[os] = 0;
			win_unindex(e, at);
			at = win_slot(e, ptr);
		} else {
			seq = e->seq_hits >= e->seq_evictions;
		}
		e->win[s] = ptr | seq;
		*at = (uint32_t)s + 1;
	}
	if (seq) {
		put_byte(e, (uint8_t)(HL_REC_ALLOC_SEQ + fn));
		put_uv(e, node);
		put_uv(e, size);
	} else {
		put_byte(e, (uint8_t)(HL_REC_ALLOC + fn));
		put_uv(e, node);
		put_ptr(e, ptr);
		put_uv(e, size);
	}
	e->records++;
}

void hl_enc_free(struct hl_enc *e, unsigned fn, uint32_t node, uint64_t ptr)
{
	uint32_t *at = windowable(ptr) ? win_slot(e, ptr) : NULL;

	if (at && *at) {
		uint32_t s = *at - 1;
		uint64_t entry = e->win[s];

		e->win[s] = 0;
		win_unindex(e, at);
		note_exit(e, &e->seq_hits);
		if (entry & 1) {
			/* d = allocations since, + 1: 1 for the latest */
			put_byte(e, (uint8_t)(HL_REC_FREE_SEQ + fn));
			put_uv(e, node);
			put_uv(e, ((e->allocs - s) & (HL_ENC_WINDOW - 1)) + 1);
			e->records++;
			return;
		}
	}
	put_byte(e, (uint8_t)(HL_REC_FREE + fn));
	put_uv(e, node);
	put_ptr(e, ptr);
	e->records++;
}

void hl_enc_realloc_fail(struct hl_enc *e, uint64_t ptr)
{
	/* The block lives on, by address: the reader knows which it is (the
	 * thread's preceding realloc-free) and binds it there. */
	put_byte(e, HL_REC_REALLOC_FAIL);
	put_ptr(e, ptr);
	e->records++;
}

int hl_enc_bind_all(struct hl_enc *e)
{
	for (uint64_t k = 0; k < HL_ENC_WINDOW; k++) {
		/* oldest first: ordinal allocs - WINDOW + 1 + k */
		uint64_t o = e->allocs - HL_ENC_WINDOW + 1 + k, s = o & (HL_ENC_WINDOW - 1);

		if (!(e->win[s] & 1))
			continue;
		if (hl_enc_room(e) < HL_ENC_MAX_EVENT)
			return -ENOSPC;
		put_bind(e, e->allocs + 1 - o, e->win[s] & ~1ull);
		e->win[s] &= ~1ull; /* by address from now on */
	}
	return 0;
}

/* Sized records: type, uvarint payload length, payload.  The payload is
 * built in place after reserving the widest length prefix, then moved down
 * if the prefix came out shorter. */
static size_t sized_begin(struct hl_enc *e, uint8_t type)
{
	put_byte(e, type);
	size_t at = e->len;
	e->len += 5; /* room for a length up to 2^35 */
	return at;
}

static void sized_end(struct hl_enc *e, size_t at)
{
	size_t payload = e->len - (at + 5);
	uint8_t tmp[HL_VARINT_MAX];
	size_t n = hl_put_uv(tmp, payload);
	memmove(e->buf + at + n, e->buf + at + 5, payload);
	memcpy(e->buf + at, tmp, n);
	e->len = at + n + payload;
}

static void put_bytes(struct hl_enc *e, const void *p, size_t n)
{
	put_uv(e, n);
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

void hl_enc_lost(struct hl_enc *e, uint64_t n)
{
	size_t at = sized_begin(e, HL_REC_LOST);
	put_uv(e, n);
	sized_end(e, at);
}

void hl_enc_end(struct hl_enc *e, unsigned reason, uint64_t ms, unsigned sig)
{
	size_t at = sized_begin(e, HL_REC_END);
	put_uv(e, reason);
	put_uv(e, ms);
	if (hl_end_has_signal(reason))
		put_uv(e, sig);
	sized_end(e, at);
}

void hl_enc_module_unload(struct hl_enc *e, uint64_t id)
{
	size_t at = sized_begin(e, HL_REC_MODULE_UNLOAD);
	put_uv(e, id);
	sized_end(e, at);
}

int hl_enc_module_load(struct hl_enc *e, uint64_t id, uint64_t bias, uint64_t lo, uint64_t hi,
		       const char *path, const uint8_t *build_id, size_t build_id_len)
{
	size_t plen = strlen(path);
	if (hl_enc_room(e) < 64 + plen + build_id_len)
		return -ENOSPC;
	size_t at = sized_begin(e, HL_REC_MODULE_LOAD);
	put_uv(e, id);
	put_uv(e, bias);
	put_uv(e, lo);
	put_uv(e, hi);
	put_bytes(e, path, plen);
	put_bytes(e, build_id, build_id_len);
	sized_end(e, at);
	return 0;
}

int hl_enc_info(struct hl_enc *e, uint64_t pid, uint64_t ppid, uint64_t start_unix_ms,
		unsigned depth, unsigned flags, const char *exe, const char *const *argv,
		size_t argc, const char *version)
{
	size_t need = 96 + strlen(exe) + strlen(version);
	for (size_t i = 0; i < argc; i++)
		need += strlen(argv[i]) + HL_VARINT_MAX;
	if (hl_enc_room(e) < need)
		return -ENOSPC;
	size_t at = sized_begin(e, HL_REC_INFO);
	put_uv(e, pid);
	put_uv(e, ppid);
	put_uv(e, start_unix_ms);
	put_uv(e, depth);
	put_uv(e, flags);
	put_bytes(e, exe, strlen(exe));
	put_uv(e, argc);
	for (size_t i = 0; i < argc; i++)
		put_bytes(e, argv[i], strlen(argv[i]));
	put_bytes(e, version, strlen(version));
	sized_end(e, at);
	return 0;
}

int hl_enc_leaks(struct hl_enc *e, const uint64_t *ptrs, const uint8_t *classes, size_t n,
		 const struct hl_leak_stats *st)
{
	if (hl_enc_room(e) < hl_enc_leaks_max_size(n))
		return -ENOSPC;
	/* Addresses are deltas within this record only (ascending, so
	 * unsigned); the trace's ALLOC/FREE delta chain is left alone. */
	size_t at = sized_begin(e, HL_REC_LEAKS);
	uint64_t prev = 0;
	put_uv(e, n);
	for (size_t i = 0; i < n; i++) {
		put_uv(e, ptrs[i] - prev);
		put_uv(e, classes[i]);
		prev = ptrs[i];
	}
	put_uv(e, st->scan_us);
	put_uv(e, st->root_bytes);
	put_uv(e, st->block_bytes);
	put_uv(e, st->flags);
	sized_end(e, at);
	return 0;
}
