/* replay.c — stage 2 of the report pipeline: replays a trace's events against
 * a model of the live heap (address -> size, allocating stack), keeps SPEC's
 * summary counters and the stack-node and module tables, and hands every
 * event to the hooks of later stages.  Exports what replay.h lists.
 *
 * Semantics are those of docs/trace-format.md, "Replay semantics".  Memory
 * grows with live blocks, distinct stacks, threads and modules, never with
 * the number of events: a freed block's slot is reused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Threads are few: uthash.  Out of memory in uthash becomes an entry with
 * hh.tbl == NULL, not exit(). */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "hl_format.h"
#include "replay.h"

/* The live heap: an open-addressing table of 16-byte slots keyed by
 * pointer, linear probing, at most three quarters full, deletion by backward
 * shift (no tombstones, however long the malloc/free churn).  It replaced
 * uthash: there every block cost a chained entry (80 bytes, two dependent
 * cache misses per lookup), and a live set that kept emptying (a malloc/free
 * loop) made uthash allocate, clear and free its bucket array on every
 * allocation: a quarter of the replay's time on bench/report.sh case a.
 *
 * A slot is free when node1 is 0 (it holds node + 1), so every pointer,
 * even 0, is a key.  A size of 4 GiB or more is SIZE_BIG in its slot and
 * the size itself in a side table (struct big_size), by pointer.  16 bytes:
 * the table is most of the replay's memory (bench/report.sh case d: 16 MiB
 * at its peak; 24-byte slots took 24, 32-byte ones 32).
 *
 * seq numbers the insertions, so hl_replay_foreach_live can still visit the
 * blocks in allocation order (uthash's order; a 32-bit count, so past 4G
 * allocations the order is only deterministic).  It is a parallel array,
 * kept only where that order is wanted (not after hl_replay_unordered). */
struct slot {
	uint64_t ptr;
	uint32_t size;	/* SIZE_BIG: see struct big_size */
	uint32_t node1; /* stack node + 1; 0: empty */
};

#define SIZE_BIG UINT32_MAX

struct big_size {
	uint64_t ptr, size;
	UT_hash_handle hh;
};

#define TABLE_MIN_CAP 256 /* 4 KiB: a small live set stays in L1 */

static void slots_free(struct slot *s, uint64_t cap);

struct live_table {
	struct slot *s;
	uint64_t mask;	/* capacity - 1, capacity a power of two */
	unsigned shift; /* 64 - log2(capacity) */
	uint64_t count;
	uint64_t grow_at; /* count that makes it grow: three quarters full */
	uint32_t *seq;	/* NULL: unordered */
	int ordered;	/* seq is kept */
	int scrambled;	/* home() hashes the whole key: see there */
	uint64_t steps; /* occupied slots lookups have walked past, in all */
	uint64_t win_steps, win_events; /* steps and events at the last look */
};

/* A realloc's FREE whose REALLOC_FAIL may still follow.  Only the latest
 * matters: a thread is inside one realloc at a time. */
struct pending_free {
	int valid, known;
	unsigned fn;
	uint64_t ptr, size, alloc_node, free_node;
};

struct thread_state {
	uint64_t tid; /* the key */
	struct pending_free pending;
	UT_hash_handle hh;
};

struct node {
	uint64_t parent, ip;
};

/* Internal stop reasons returned to the reader (positive, so never taken
 * for its -1 = corrupt). */
#define STOP_NOMEM 1
#define STOP_HOOK  2

/* Events waiting for the batch hooks (hl_replay_hooks.events). */
#define EVBUF_LEN 128

struct hl_replay {
	struct hl_replay_hooks hooks[HL_REPLAY_MAX_HOOKS];
	unsigned nhooks;
	unsigned nbatch_hooks; /* hooks with .events */
	unsigned nevent_hooks; /* hooks with .event, which event_hooks lists */
	struct hl_replay_hooks *event_hooks[HL_REPLAY_MAX_HOOKS];
	size_t nevbuf;
	struct hl_event evbuf[EVBUF_LEN];
	int hook_ret; /* what a hook returned when it stopped the replay */
	int ran;

	/* Blocks by address; those a version 3 trace names by ordinal
	 * (HL_SEQ_KEY) are in the ring, or in seqlive once RING_LEN later
	 * allocations have come (see ring_slot) */
	struct live_table live, seqlive;
	struct slot *ring;  /* RING_LEN slots, NULL until the first ordinal */
	uint32_t *ring_seq; /* the ring's insertion order, if ordered */
	uint32_t next_seq;  /* insertion order, across all three */
	struct big_size *big; /* sizes of 4 GiB and more, by pointer (uthash) */

	struct thread_state *threads; /* uthash head */
	struct thread_state *cur; /* current thread's state, NULL until needed */
	uint64_t cur_tid;

	struct node *nodes;
	uint64_t nnodes;
	size_t node_cap;

	struct hl_replay_module *mods;
	size_t nmods, mod_cap;

	int have_info;
	struct hl_info info; /* strings owned */

	uint64_t time_ms;  /* the current TIME's absolute ms */
	uint64_t end_ms;
	uint64_t live_bytes;
	struct hl_summary s; /* counters only: strings are made by hl_replay_summary */
	/* Not next to live_bytes: emit would read the pair with one 16-byte
	 * load right after two 8-byte stores to it, and a load that spans
	 * two stores waits for both to retire (no store forwarding). */
	uint64_t live_blocks;
};

struct hl_replay *hl_replay_new(void)
{
	struct hl_replay *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->node_cap = 4096;
	r->nodes = malloc(r->node_cap * sizeof(*r->nodes));
	if (!r->nodes) {
		free(r);
		return NULL;
	}
	r->nodes[0] = (struct node){ 0, 0 }; /* the empty stack */
	r->nnodes = 1;
	r->live.ordered = r->seqlive.ordered = 1;
	r->seqlive.scrambled = 1; /* ordinals: see ring_slot */
	r->cur_tid = 1; /* the first thread, should the trace not say */
	return r;
}

int hl_replay_add_hooks(struct hl_replay *r, const struct hl_replay_hooks *hooks)
{
	if (r->nhooks == HL_REPLAY_MAX_HOOKS)
		return -ENOSPC;
	r->hooks[r->nhooks++] = *hooks;
	if (hooks->event)
		r->event_hooks[r->nevent_hooks++] = &r->hooks[r->nhooks - 1];
	if (hooks->events)
		r->nbatch_hooks++;
	return 0;
}

static void free_info(struct hl_info *info)
{
	free(info->exe);
	if (info->argv)
		for (uint64_t i = 0; i < info->argc; i++)
			free(info->argv[i]);
	free(info->argv);
	free(info->version);
	memset(info, 0, sizeof(*info));
}

void hl_replay_unordered(struct hl_replay *r)
{
	if (!r->ran)
		r->live.ordered = r->seqlive.ordered = 0;
}

void hl_replay_free(struct hl_replay *r)
{
	struct thread_state *ts, *tmp;
	struct big_size *b, *btmp;

	if (!r)
		return;
	HASH_ITER(hh, r->threads, ts, tmp) {
		HASH_DEL(r->threads, ts);
		free(ts);
	}
	HASH_ITER(hh, r->big, b, btmp) {
		HASH_DEL(r->big, b);
		free(b);
	}
	slots_free(r->live.s, r->live.s ? r->live.mask + 1 : 0);
	free(r->live.seq);
	slots_free(r->seqlive.s, r->seqlive.s ? r->seqlive.mask + 1 : 0);
	free(r->seqlive.seq);
	free(r->ring);
	free(r->ring_seq);
	for (size_t i = 0; i < r->nmods; i++) {
		free(r->mods[i].mod.path);
		free(r->mods[i].mod.build_id);
	}
	free(r->mods);
	free(r->nodes);
	free_info(&r->info);
	free(r);
}

/* ---- live blocks ------------------------------------------------------------ */

/* Where ptr's search starts.  Not a scrambling hash at first: the slot of
 * a 16-byte granule is its address's own low bits.  malloc hands out
 * addresses close to the ones it handed out or took back just before, so
 * consecutive events touch neighbouring slots and the table is read almost
 * from the cache: on bench/report.sh case d (python, 636k blocks live at
 * the peak) `report --view summary` took ~105 ms of CPU this way against
 * ~240 with the Fibonacci hash; a heap larger than the table just wraps
 * around it.  (Hashing each 1 MiB region to its own offset did worse,
 * ~470 ms: the regions' windows overlap unevenly.)  Addresses malloc would
 * not give, a crafted trace's, can pile up into long runs: then the table
 * is rebuilt once with the scrambling hash (live_check). */
static inline uint64_t home(const struct live_table *t, uint64_t ptr)
{
	if (t->scrambled) /* Fibonacci hashing, the high half folded in */
		return ((ptr ^ (ptr >> 32)) * 0x9e3779b97f4a7c15ull) >> t->shift;
	return (ptr >> 4) & t->mask;
}

/* Blocks named by ordinal go first to the ring, at their ordinal's slot:
 * allocations in a row fill slots in a row, and the trace frees a block by
 * ordinal only within the writer's window (HL_SEQ_WINDOW allocations), so
 * such a free finds it there at once, in a ring that stays in the cache.
 * A block still live when its slot comes round again moves to seqlive, a
 * table hashed like the scrambled one: as the home of a live table,
 * ordinals would make the later ones walk through runs of the long-lived
 * earlier ones (gcc's cc1: 35 slots an event). */
#define RING_LEN 32768u

_Static_assert(RING_LEN >= HL_SEQ_WINDOW, "the blocks FREE_SEQ names are in the ring");

static inline struct slot *ring_slot(const struct hl_replay *r, uint64_t key)
{
	return &r->ring[key & (RING_LEN - 1)];
}

static inline int in_ring(const struct hl_replay *r, const struct slot *b)
{
	return r->ring && b >= r->ring && b < r->ring + RING_LEN;
}

/* The table of a block's key that is not in the ring. */
static inline struct live_table *table_of(struct hl_replay *r, uint64_t key)
{
	return key >> 63 ? &r->seqlive : &r->live;
}

/* The slot holding ptr, or the empty slot where it would go.  The table
 * must exist. */
static inline struct slot *probe(struct live_table *t, uint64_t ptr)
{
	uint64_t i = home(t, ptr), steps = 0;

	while (t->s[i].node1 && t->s[i].ptr != ptr) {
		i = (i + 1) & t->mask;
		steps++;
	}
	t->steps += steps;
	return &t->s[i];
}

/* Addresses only: the ring is small, seqlive rarely looked at. */
static inline void prefetch_slot(const struct live_table *t, uint64_t ptr)
{
	if (t->s && !(ptr >> 63))
		__builtin_prefetch(&t->s[home(t, ptr)], 1);
}

/* Tables of 2 MiB and more are mapped on their own and asked for huge
 * pages: a lookup in a table far larger than the cache is one random
 * access, and with 4 KiB pages each of them missed the TLB too. */
#define TABLE_MAP_BYTES (2u << 20)

static struct slot *slots_alloc(uint64_t cap)
{
	size_t bytes = cap * sizeof(struct slot);

	if (bytes < TABLE_MAP_BYTES)
		return calloc(cap, sizeof(struct slot));
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without it, 4 KiB pages */
	return p;
}

static void slots_free(struct slot *s, uint64_t cap)
{
	size_t bytes = cap * sizeof(struct slot);

	if (!s)
		return;
	if (bytes < TABLE_MAP_BYTES)
		free(s);
	else
		munmap(s, bytes);
}

/* Moves the table into one of cap slots (cap a power of two). */
static int table_resize(struct live_table *t, uint64_t cap)
{
	struct live_table n = {
	    .mask = cap - 1,
	    .shift = 64 - (unsigned)__builtin_ctzll(cap),
	    .count = t->count,
	    .grow_at = cap / 4 * 3,
	    .win_steps = t->win_steps,
	    .win_events = t->win_events,
	    .ordered = t->ordered,
	    .scrambled = t->scrambled,
	};

	n.s = slots_alloc(cap);
	if (n.s && n.ordered && !(n.seq = malloc(cap * sizeof(*n.seq)))) {
		slots_free(n.s, cap);
		n.s = NULL;
	}
	if (!n.s)
		return STOP_NOMEM;
	for (uint64_t i = 0; t->s && i <= t->mask; i++) {
		if (!t->s[i].node1)
			continue;
		struct slot *d = probe(&n, t->s[i].ptr);
		*d = t->s[i];
		if (n.seq)
			n.seq[d - n.s] = t->seq[i];
	}
	n.steps += t->steps;
	slots_free(t->s, t->mask + 1);
	free(t->seq);
	*t = n;
	return 0;
}

/* Called between events: once the lookups have walked past more than 32
 * occupied slots an event on average (plus 16M in all: a phase of crowded
 * addresses is no reason yet), the addresses defeat home()'s locality, and
 * the table is rebuilt, once, with the scrambling hash: what a crafted
 * trace can make the replay walk is then what it could before.  Real traces
 * walk 1-4 slots an event (gcc's cc1: 7.9M over 1.95M events, python 2.1M
 * over 1.97M) and keep the fast layout.  0 or STOP_NOMEM. */
static __attribute__((noinline)) int live_rescramble(struct live_table *t)
{
	t->scrambled = 1;
	return table_resize(t, t->mask + 1);
}

#define CROWD_WINDOW 65536 /* events between looks at the probe runs */

static int table_grow(struct live_table *t);

static __attribute__((noinline)) int live_crowded(struct hl_replay *r)
{
	struct live_table *t = &r->live;
	uint64_t events = r->s.allocations + r->s.frees;
	uint64_t steps = t->steps - t->win_steps;

	t->win_steps = t->steps;
	t->win_events = events;
	/* Runs longer than two slots an event on average over the window, the
	 * table over a quarter full: addresses from several regions of the
	 * heap (more than the table spans) share its slots.  Doubling spreads
	 * them; never below a quarter full, so at most three times the memory
	 * the count needs.  (gcc's cc1: 141 -> 100 ms CPU for its 2M events.)
	 * Addresses that collide at any size go on to live_rescramble. */
	if (steps > 2 * CROWD_WINDOW && t->count * 4 > t->mask + 1 && !t->scrambled)
		return table_grow(t);
	return 0;
}

/* The address table's only: seqlive hashes from the start. */
static inline int live_check(struct hl_replay *r)
{
	const struct live_table *t = &r->live;
	uint64_t events = r->s.allocations + r->s.frees;

	if (__builtin_expect(events - t->win_events >= CROWD_WINDOW, 0)) {
		int ret = live_crowded(r);
		if (ret)
			return ret;
	}
	if (__builtin_expect(t->steps <= events * 32 + (1u << 24), 1) || t->scrambled)
		return 0;
	return live_rescramble(&r->live);
}

/* Doubles a mapped table where it is (mremap keeps its pages; only the new
 * half is fresh memory, which the kernel must clear: on bench/report.sh
 * case d the growths were a fifth of the replay, clearing 48 MB of new
 * tables).  With home() on the low address bits, an entry's new home is
 * its old one or that plus the old capacity, never past where it sits, so
 * one pass in slot order can move each entry (out, then probe again) and
 * only ever probe through slots already done: each lands at or before its
 * old slot, or in the new half.  The run at slot 0 may hold entries that
 * wrapped around from the end; it is taken out first and put back last.
 * 0, or STOP_NOMEM with the table unchanged. */
static int table_grow_in_place(struct live_table *t)
{
	uint64_t cap = t->mask + 1, w = 0;
	size_t bytes = cap * sizeof(struct slot);
	struct slot *wrap, *s;

	while (w < cap && t->s[w].node1)
		w++;
	wrap = malloc((w ? w : 1) * sizeof(*wrap));
	if (!wrap)
		return STOP_NOMEM;
	s = mremap(t->s, bytes, 2 * bytes, MREMAP_MAYMOVE);
	if (s == MAP_FAILED) {
		free(wrap);
		return table_resize(t, 2 * cap); /* a copy, then */
	}
	madvise(s, 2 * bytes, MADV_HUGEPAGE);
	t->s = s;
	t->mask = 2 * cap - 1;
	t->shift--;
	t->grow_at = 2 * cap / 4 * 3;
	memcpy(wrap, s, w * sizeof(*wrap));
	for (uint64_t i = 0; i < w; i++)
		s[i].node1 = 0;
	for (uint64_t i = w; i < cap; i++) {
		if (!s[i].node1)
			continue;
		struct slot e = s[i];
		s[i].node1 = 0;
		*probe(t, e.ptr) = e;
	}
	for (uint64_t i = 0; i < w; i++)
		*probe(t, wrap[i].ptr) = wrap[i];
	free(wrap);
	return 0;
}

static __attribute__((noinline)) int table_grow(struct live_table *t)
{
	uint64_t cap = t->s ? t->mask + 1 : 0;

	/* in place only where home() is the address bits (see there), and
	 * without a seq array to move along */
	if (cap && !t->scrambled && !t->seq && cap * sizeof(struct slot) >= TABLE_MAP_BYTES)
		return table_grow_in_place(t);
	return table_resize(t, cap ? cap * 2 : TABLE_MIN_CAP);
}

/* After the replay: what is still live is usually a small remnant of the
 * peak the table grew for.  Giving back the difference keeps the later
 * stages (symbols, line tables) from stacking their memory on top of it. */
static void table_fit(struct live_table *t)
{
	uint64_t cap = TABLE_MIN_CAP;

	while (cap / 8 * 3 < t->count)
		cap *= 2;
	if (t->s && cap * 4 <= t->mask + 1)
		table_resize(t, cap); /* out of memory: keep the big one */
}

static __attribute__((noinline)) struct slot *seq_find(struct hl_replay *r, uint64_t key)
{
	struct slot *b;

	if (r->ring) {
		b = ring_slot(r, key);
		if (b->node1 && b->ptr == key)
			return b;
	}
	if (!r->seqlive.s)
		return NULL;
	b = probe(&r->seqlive, key);
	return b->node1 ? b : NULL;
}

static inline struct slot *block_find(struct hl_replay *r, uint64_t ptr)
{
	struct slot *b;

	if (__builtin_expect(ptr >> 63, 0))
		return seq_find(r, ptr);
	if (!r->live.s)
		return NULL;
	b = probe(&r->live, ptr);
	return b->node1 ? b : NULL;
}

/* A size of 4 GiB or more beside its SIZE_BIG slot.  0 or STOP_NOMEM. */
static __attribute__((noinline)) int big_add(struct hl_replay *r, uint64_t ptr, uint64_t size)
{
	struct big_size *b = malloc(sizeof(*b));

	if (!b)
		return STOP_NOMEM;
	b->ptr = ptr;
	b->size = size;
	HASH_ADD(hh, r->big, ptr, sizeof(b->ptr), b);
	if (!b->hh.tbl) {
		free(b);
		return STOP_NOMEM;
	}
	return 0;
}

/* The side table's size for ptr; with remove, the entry goes too. */
static __attribute__((noinline)) uint64_t big_take(struct hl_replay *r, uint64_t ptr, int remove)
{
	struct big_size *b;
	uint64_t size;

	HASH_FIND(hh, r->big, &ptr, sizeof(ptr), b);
	if (!b)
		return SIZE_BIG; /* cannot happen: every SIZE_BIG slot has one */
	size = b->size;
	if (remove) {
		HASH_DEL(r->big, b);
		free(b);
	}
	return size;
}

static inline uint64_t slot_size(const struct hl_replay *r, const struct slot *b)
{
	return b->size != SIZE_BIG ? b->size : big_take((struct hl_replay *)r, b->ptr, 0);
}

/* Puts slot e, whose key is not in t, into table t; its insertion order is
 * seq (if kept); at is the empty slot probe() found for it, or NULL to look
 * here.  0 or STOP_NOMEM. */
static inline int table_put(struct live_table *t, struct slot *at, struct slot e, uint32_t seq)
{
	/* at most three quarters full, so probe runs stay short */
	if (t->count + 1 > t->grow_at) {
		if (table_grow(t))
			return STOP_NOMEM;
		at = NULL;
	}
	if (!at)
		at = probe(t, e.ptr);
	*at = e;
	if (t->seq)
		t->seq[at - t->s] = seq;
	t->count++;
	return 0;
}

/* Puts block e, named by an ordinal that is not live, into the ring; the
 * block in its slot moves to seqlive.  0 or STOP_NOMEM. */
static __attribute__((noinline)) int ring_put(struct hl_replay *r, struct slot e, uint32_t seq)
{
	struct slot *at;

	if (!r->ring) {
		r->ring = calloc(RING_LEN, sizeof(*r->ring));
		if (!r->ring)
			return STOP_NOMEM;
		if (r->live.ordered && !(r->ring_seq = malloc(RING_LEN * sizeof(*r->ring_seq)))) {
			free(r->ring);
			r->ring = NULL;
			return STOP_NOMEM;
		}
	}
	at = ring_slot(r, e.ptr);
	if (at->node1 &&
	    table_put(&r->seqlive, NULL, *at, r->ring_seq ? r->ring_seq[at - r->ring] : 0))
		return STOP_NOMEM;
	*at = e;
	if (r->ring_seq)
		r->ring_seq[at - r->ring] = seq;
	return 0;
}

/* After the replay: the ring's blocks move to seqlive, and the ring's
 * memory goes back.  0, or STOP_NOMEM with the blocks not moved yet left
 * in the ring. */
static int ring_fold(struct hl_replay *r)
{
	for (uint64_t i = 0; r->ring && i < RING_LEN; i++) {
		if (!r->ring[i].node1)
			continue;
		if (table_put(&r->seqlive, NULL, r->ring[i], r->ring_seq ? r->ring_seq[i] : 0))
			return STOP_NOMEM;
		r->ring[i].node1 = 0;
	}
	free(r->ring);
	free(r->ring_seq);
	r->ring = NULL;
	r->ring_seq = NULL;
	return 0;
}

/* Makes a block live at ptr, which is not live; at is the empty slot
 * probe() found for an address, or NULL to look here.  0 or STOP_NOMEM. */
static inline int block_add(struct hl_replay *r, struct slot *at, uint64_t ptr, uint64_t size,
			    uint64_t node)
{
	struct slot e = {ptr, size < SIZE_BIG ? (uint32_t)size : SIZE_BIG, (uint32_t)node + 1};
	int ret;

	if (__builtin_expect(size >= SIZE_BIG, 0) && big_add(r, ptr, size))
		return STOP_NOMEM;
	if (__builtin_expect(ptr >> 63, 0))
		ret = ring_put(r, e, ++r->next_seq);
	else
		ret = table_put(&r->live, at, e, ++r->next_seq);
	if (ret) {
		if (size >= SIZE_BIG)
			big_take(r, ptr, 1);
		return ret;
	}
	r->live_bytes += size;
	r->live_blocks++;
	if (r->live_bytes > r->s.peak_bytes) {
		r->s.peak_bytes = r->live_bytes;
		r->s.peak_time_ms = r->time_ms;
	}
	return 0;
}

/* Removes block b, whose size is `size` (slot_size()). */
static void block_remove(struct hl_replay *r, struct slot *b, uint64_t size)
{
	struct live_table *t = table_of(r, b->ptr);
	uint64_t hole, j;

	if (__builtin_expect(b->size == SIZE_BIG, 0))
		big_take(r, b->ptr, 1);
	r->live_bytes -= size;
	r->live_blocks--;
	if (__builtin_expect(in_ring(r, b), 0)) {
		b->node1 = 0;
		return;
	}
	hole = j = (uint64_t)(b - t->s);
	/* Backward shift: pull each later entry of the run into the hole
	 * unless its home lies after the hole (cyclically), where moving it
	 * back would put it before its home. */
	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->s[j].node1)
			break;
		uint64_t h = home(t, t->s[j].ptr);
		if (((j - h) & t->mask) >= ((j - hole) & t->mask)) {
			t->s[hole] = t->s[j];
			if (t->seq)
				t->seq[hole] = t->seq[j];
			hole = j;
		}
	}
	t->s[hole].node1 = 0;
	t->count--;
}

/* ---- events ----------------------------------------------------------------- */

/* Hands the buffered events to the batch hooks. */
static int flush_batch(struct hl_replay *r)
{
	size_t n = r->nevbuf;

	r->nevbuf = 0;
	for (unsigned i = 0; n && i < r->nhooks; i++) {
		if (!r->hooks[i].events)
			continue;
		int ret = r->hooks[i].events(r->hooks[i].ctx, r, r->evbuf, n);
		if (ret) {
			r->hook_ret = ret;
			return STOP_HOOK;
		}
	}
	return 0;
}

/* Hands an event to the hooks: at once to those with .event, through the
 * batch to those with .events.  Built in place, field by field: this is
 * the replay's innermost loop. */
static inline int emit(struct hl_replay *r, enum hl_event_kind kind, unsigned fn, uint64_t node,
		       uint64_t ptr, uint64_t size, uint64_t alloc_node, int known)
{
	struct hl_event tmp, *ev = r->nbatch_hooks ? &r->evbuf[r->nevbuf] : &tmp;

	ev->kind = kind;
	ev->fn = fn;
	ev->thread = r->cur_tid;
	ev->node = node;
	ev->ptr = ptr;
	ev->size = size;
	ev->alloc_node = alloc_node;
	ev->known = known;
	ev->time_ms = r->time_ms;
	ev->live_bytes = r->live_bytes;
	ev->live_blocks = r->live_blocks;
	for (unsigned i = 0; i < r->nevent_hooks; i++) {
		const struct hl_replay_hooks *h = r->event_hooks[i];
		int ret = h->event(h->ctx, r, ev);
		if (ret) {
			r->hook_ret = ret;
			return STOP_HOOK;
		}
	}
	if (ev != &tmp && ++r->nevbuf == EVBUF_LEN)
		return flush_batch(r);
	return 0;
}

static struct thread_state *cur_thread(struct hl_replay *r)
{
	if (r->cur)
		return r->cur;
	HASH_FIND(hh, r->threads, &r->cur_tid, sizeof(r->cur_tid), r->cur);
	if (r->cur)
		return r->cur;
	struct thread_state *ts = calloc(1, sizeof(*ts));
	if (!ts)
		return NULL;
	ts->tid = r->cur_tid;
	HASH_ADD(hh, r->threads, tid, sizeof(ts->tid), ts);
	if (!ts->hh.tbl) {
		free(ts);
		return NULL;
	}
	return r->cur = ts;
}

static int on_alloc(void *ctx, unsigned fn, uint64_t node, uint64_t ptr, uint64_t size)
{
	struct hl_replay *r = ctx;
	/* One probe finds an address's slot, live or where it will go. */
	struct slot *at = __builtin_expect(ptr >> 63, 0) ? seq_find(r, ptr)
			  : r->live.s				 ? probe(&r->live, ptr)
								 : NULL;
	int ret;

	if (at && at->node1) {
		/* The library orders a free before any reuse of its address, so
		 * this means a free it missed: drop the old block, count no free. */
		uint64_t old_size = slot_size(r, at), old_node = at->node1 - 1;

		block_remove(r, at, old_size);
		at = NULL; /* the shift may have moved its neighbours into it */
		ret = emit(r, HL_EV_REPLACED, fn, node, ptr, old_size, old_node, 1);
		if (ret)
			return ret;
	}
	if (fn == HL_FN_REALLOC || fn == HL_FN_REALLOCARRAY) {
		/* The realloc succeeded: its FREE can no longer be undone. */
		struct thread_state *ts = cur_thread(r);
		if (!ts)
			return STOP_NOMEM;
		ts->pending.valid = 0;
	}
	r->s.allocations++;
	r->s.bytes_allocated += size;
	ret = block_add(r, at, ptr, size, node);
	if (ret)
		return ret;
	return emit(r, HL_EV_ALLOC, fn, node, ptr, size, node, 1);
}

static int on_free(void *ctx, unsigned fn, uint64_t node, uint64_t ptr)
{
	struct hl_replay *r = ctx;
	struct slot *b = block_find(r, ptr);
	uint64_t size = 0, alloc_node = 0;
	int known = 0;

	r->s.frees++;
	if (b) {
		size = slot_size(r, b);
		alloc_node = b->node1 - 1;
		known = 1;
		block_remove(r, b, size);
	} else {
		r->s.unknown_frees++;
	}
	if (fn == HL_FN_REALLOC || fn == HL_FN_REALLOCARRAY) {
		struct thread_state *ts = cur_thread(r);
		if (!ts)
			return STOP_NOMEM;
		ts->pending = (struct pending_free){
		    .valid = 1,
		    .known = known,
		    .fn = fn,
		    .ptr = ptr,
		    .size = size,
		    .alloc_node = alloc_node,
		    .free_node = node,
		};
	}
	return emit(r, HL_EV_FREE, fn, node, ptr, size, alloc_node, known);
}

static int on_realloc_fail(void *ctx, uint64_t ptr)
{
	struct hl_replay *r = ctx;
	struct thread_state *ts = cur_thread(r);
	int ret;

	if (!ts)
		return STOP_NOMEM;
	struct pending_free pf = ts->pending;
	/* Without a matching realloc-free there is nothing to undo; such a
	 * record changes no counter rather than inventing a block. */
	if (!pf.valid || pf.ptr != ptr)
		return 0;
	ts->pending.valid = 0;
	r->s.frees--;
	if (!pf.known) {
		r->s.unknown_frees--;
	} else {
		struct slot *clash = block_find(r, ptr);
		if (clash) /* reallocated meanwhile: only a broken trace does this */
			block_remove(r, clash, slot_size(r, clash));
		ret = block_add(r, NULL, ptr, pf.size, pf.alloc_node);
		if (ret)
			return ret;
	}
	return emit(r, HL_EV_REALLOC_UNDO, pf.fn, pf.free_node, ptr, pf.size, pf.alloc_node,
		    pf.known);
}

/* The reader's batches (hl_visitor.events).  Each event's slot is
 * prefetched a few events ahead: with a live set far larger than the cache
 * the lookup's miss is most of an event's cost, and by the time an event is
 * applied its line has arrived.  A small table is in the cache anyway. */
#define PREFETCH_AHEAD 8

static int on_events(void *ctx, const struct hl_rec_event *ev, size_t n)
{
	struct hl_replay *r = ctx;

	for (size_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
		prefetch_slot(&r->live, ev[i].ptr);
	for (size_t i = 0; i < n; i++) {
		int ret;

		if (i + PREFETCH_AHEAD < n)
			prefetch_slot(&r->live, ev[i + PREFETCH_AHEAD].ptr);
		switch (ev[i].type) {
		case HL_REC_ALLOC:
			ret = on_alloc(r, ev[i].fn, ev[i].node, ev[i].ptr, ev[i].size);
			break;
		case HL_REC_FREE:
			ret = on_free(r, ev[i].fn, ev[i].node, ev[i].ptr);
			break;
		default:
			ret = on_realloc_fail(r, ev[i].ptr);
			break;
		}
		if (ret || (ret = live_check(r)))
			return ret;
	}
	/* The reader's batch ends before any other record: so does ours. */
	return flush_batch(r);
}

/* ---- everything else in the trace ------------------------------------------ */

/* Calls hook `fn` of every hook set that has one, with (ctx, r, args...);
 * the first nonzero return stops the replay (from the calling function). */
#define CALL_HOOKS(r, fn, ...)                                                     \
	do {                                                                       \
		for (unsigned hi_ = 0; hi_ < (r)->nhooks; hi_++) {                 \
			if (!(r)->hooks[hi_].fn)                                   \
				continue;                                          \
			int hret_ = (r)->hooks[hi_].fn((r)->hooks[hi_].ctx, (r), __VA_ARGS__); \
			if (hret_) {                                               \
				(r)->hook_ret = hret_;                             \
				return STOP_HOOK;                                  \
			}                                                          \
		}                                                                  \
	} while (0)

static char *dup_bytes(const void *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static int on_info(void *ctx, const struct hl_info *in)
{
	struct hl_replay *r = ctx;
	struct hl_info c = *in;

	/* A second INFO (not written by v1 writers) replaces the first. */
	c.exe = strdup(in->exe);
	c.version = strdup(in->version);
	c.argv = calloc((size_t)in->argc + 1, sizeof(*c.argv));
	if (!c.exe || !c.version || !c.argv)
		goto nomem;
	for (uint64_t i = 0; i < in->argc; i++)
		if (!(c.argv[i] = strdup(in->argv[i])))
			goto nomem;
	free_info(&r->info);
	r->info = c;
	r->have_info = 1;
	r->s.pid = c.pid;
	r->s.ppid = c.ppid;
	r->s.own_malloc = (c.flags & HL_INFO_OWN_MALLOC) != 0;
	return 0;
nomem:
	free_info(&c);
	return STOP_NOMEM;
}

static int on_node(void *ctx, uint64_t id, uint64_t parent, uint64_t ip)
{
	struct hl_replay *r = ctx;

	/* The reader numbers nodes densely from 1, so id == nnodes.  A live
	 * block keeps its node in 32 bits (struct slot). */
	if (r->nnodes >= UINT32_MAX - 1)
		return STOP_NOMEM;
	if (r->nnodes == r->node_cap) {
		struct node *n = realloc(r->nodes, r->node_cap * 2 * sizeof(*n));
		if (!n)
			return STOP_NOMEM;
		r->nodes = n;
		r->node_cap *= 2;
	}
	r->nodes[r->nnodes++] = (struct node){ parent, ip };
	CALL_HOOKS(r, node, id, ip);
	return 0;
}

static int on_thread(void *ctx, uint64_t tid)
{
	struct hl_replay *r = ctx;
	if (tid != r->cur_tid) {
		r->cur_tid = tid;
		r->cur = NULL;
	}
	return 0;
}

static int on_time(void *ctx, uint64_t ms, uint64_t rss_kib)
{
	struct hl_replay *r = ctx;

	r->time_ms = ms;
	if (rss_kib > r->s.peak_rss_kib)
		r->s.peak_rss_kib = rss_kib;
	CALL_HOOKS(r, tick, ms, rss_kib, r->live_bytes);
	return 0;
}

static int on_module_load(void *ctx, const struct hl_module *m)
{
	struct hl_replay *r = ctx;

	if (r->nmods == r->mod_cap) {
		size_t cap = r->mod_cap ? r->mod_cap * 2 : 64;
		struct hl_replay_module *a = realloc(r->mods, cap * sizeof(*a));
		if (!a)
			return STOP_NOMEM;
		r->mods = a;
		r->mod_cap = cap;
	}
	struct hl_replay_module *rm = &r->mods[r->nmods];
	rm->mod = *m;
	rm->mod.path = strdup(m->path);
	rm->mod.build_id = (uint8_t *)dup_bytes(m->build_id, m->build_id_len);
	if (!rm->mod.path || !rm->mod.build_id) {
		free(rm->mod.path);
		free(rm->mod.build_id);
		return STOP_NOMEM;
	}
	rm->first_node = r->nnodes;
	rm->end_node = UINT64_MAX;
	r->nmods++;
	CALL_HOOKS(r, module_load, m);
	return 0;
}

static int on_module_unload(void *ctx, uint64_t id)
{
	struct hl_replay *r = ctx;

	for (size_t i = r->nmods; i-- > 0;) {
		if (r->mods[i].mod.id == id && r->mods[i].end_node == UINT64_MAX) {
			r->mods[i].end_node = r->nnodes;
			break;
		}
	}
	CALL_HOOKS(r, module_unload, id);
	return 0;
}

static int on_lost(void *ctx, uint64_t count)
{
	struct hl_replay *r = ctx;
	r->s.lost_events += count;
	return 0;
}

static int on_end(void *ctx, unsigned reason, unsigned sig, uint64_t ms)
{
	struct hl_replay *r = ctx;
	r->s.ended = 1;
	r->s.end_reason = reason;
	r->s.end_signal = sig;
	r->end_ms = ms;
	return 0;
}

int hl_replay_run(struct hl_replay *r, struct hl_trace *t, char *err, size_t errlen)
{
	const struct hl_visitor v = {
	    .ctx = r,
	    .info = on_info,
	    .node = on_node,
	    .thread = on_thread,
	    .time = on_time,
	    .events = on_events,
	    .module_load = on_module_load,
	    .module_unload = on_module_unload,
	    .lost = on_lost,
	    .end = on_end,
	};

	if (r->ran) {
		snprintf(err, errlen, "%s: internal error: a replay runs once", hl_trace_path(t));
		return -1;
	}
	r->ran = 1;
	int ret = hl_trace_read(t, &v, err, errlen);
	if (ret == STOP_NOMEM) {
		snprintf(err, errlen, "%s: out of memory", hl_trace_path(t));
		return -1;
	}
	if (!ret)
		ret = flush_batch(r); /* empty already: on_events flushes */
	if (ret == STOP_HOOK)
		return r->hook_ret;
	if (ret)
		return ret; /* -1: err holds the reader's message */
	r->s.truncated_bytes = hl_trace_truncated_bytes(t);
	table_fit(&r->live);
	if (ring_fold(r) == 0)
		table_fit(&r->seqlive);
	return 0;
}

/* ---- results ----------------------------------------------------------------- */

static char *join_argv(const struct hl_info *in)
{
	size_t len = 1;
	for (uint64_t i = 0; i < in->argc; i++)
		len += strlen(in->argv[i]) + 1;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	*p = '\0';
	for (uint64_t i = 0; i < in->argc; i++) {
		size_t n = strlen(in->argv[i]);
		if (i)
			*p++ = ' ';
		memcpy(p, in->argv[i], n + 1);
		p += n;
	}
	return s;
}

int hl_replay_summary(const struct hl_replay *r, struct hl_summary *out)
{
	*out = r->s;
	out->leaked_bytes = r->live_bytes;
	out->leaked_blocks = r->live_blocks;
	out->duration_ms = r->time_ms > r->end_ms ? r->time_ms : r->end_ms;
	out->command = NULL;
	out->exe = NULL;
	if (r->have_info) {
		/* An empty argv (execve with none) still names something. */
		out->command = r->info.argc ? join_argv(&r->info) : strdup(r->info.exe);
		out->exe = strdup(r->info.exe);
	} else {
		out->command = strdup("");
		out->exe = strdup("");
	}
	if (!out->command || !out->exe) {
		hl_summary_release(out);
		return -ENOMEM;
	}
	return 0;
}

void hl_summary_release(struct hl_summary *s)
{
	free(s->command);
	free(s->exe);
	s->command = NULL;
	s->exe = NULL;
}

int hl_summary_of(const char *path, struct hl_summary *out, char *err, size_t errlen)
{
	struct hl_trace *t = NULL;
	struct hl_replay *r = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (hl_trace_open(path, &t, err, errlen))
		return -1;
	r = hl_replay_new();
	if (!r) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	hl_replay_unordered(r);
	if (hl_replay_run(r, t, err, errlen))
		goto out;
	if (hl_replay_summary(r, out)) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	ret = 0;
out:
	hl_replay_free(r);
	hl_trace_close(t);
	return ret;
}

const struct hl_info *hl_replay_info(const struct hl_replay *r)
{
	return r->have_info ? &r->info : NULL;
}

uint64_t hl_replay_node_count(const struct hl_replay *r)
{
	return r->nnodes;
}

int hl_replay_node(const struct hl_replay *r, uint64_t id, uint64_t *parent, uint64_t *ip)
{
	if (id >= r->nnodes)
		return -ENOENT;
	if (parent)
		*parent = r->nodes[id].parent;
	if (ip)
		*ip = r->nodes[id].ip;
	return 0;
}

size_t hl_replay_module_count(const struct hl_replay *r)
{
	return r->nmods;
}

const struct hl_replay_module *hl_replay_module(const struct hl_replay *r, size_t i)
{
	return i < r->nmods ? &r->mods[i] : NULL;
}

const struct hl_replay_module *hl_replay_module_of(const struct hl_replay *r, uint64_t node,
						   uint64_t ip)
{
	const struct hl_replay_module *any = NULL;

	/* Newest first: after dlclose + dlopen the newer mapping wins. */
	for (size_t i = r->nmods; i-- > 0;) {
		const struct hl_replay_module *m = &r->mods[i];
		if (ip < m->mod.lo || ip >= m->mod.hi)
			continue;
		if (node >= m->first_node && node < m->end_node)
			return m;
		if (!any)
			any = m;
	}
	return any;
}

struct ordered {
	const struct slot *at;
	uint32_t seq;
};

static int by_seq(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;

	if (x->seq != y->seq)
		return (x->seq > y->seq) - (x->seq < y->seq);
	return (x->at->ptr > y->at->ptr) - (x->at->ptr < y->at->ptr);
}

int hl_replay_foreach_live(const struct hl_replay *r,
			   int (*fn)(void *ctx, uint64_t ptr, uint64_t size, uint64_t node),
			   void *ctx)
{
	const struct live_table *tabs[2] = {&r->live, &r->seqlive};
	struct ordered *order;
	uint64_t n = 0;
	int ret = 0;

	if (!r->live_blocks)
		return 0;
	if (!r->live.ordered) /* hl_replay_unordered: slot order */
		return hl_replay_foreach_live_unordered(r, fn, ctx);
	/* The tables' order is the hash's: sort by insertion to give the
	 * allocation order replay.h promises. */
	order = malloc(r->live_blocks * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (int k = 0; k < 2; k++)
		for (uint64_t i = 0; tabs[k]->s && i <= tabs[k]->mask; i++)
			if (tabs[k]->s[i].node1)
				order[n++] = (struct ordered){&tabs[k]->s[i], tabs[k]->seq[i]};
	for (uint64_t i = 0; r->ring && i < RING_LEN; i++)
		if (r->ring[i].node1)
			order[n++] = (struct ordered){&r->ring[i], r->ring_seq[i]};
	qsort(order, n, sizeof(*order), by_seq);
	for (uint64_t i = 0; i < n && !ret; i++) {
		const struct slot *b = order[i].at;
		ret = fn(ctx, b->ptr, slot_size(r, b), b->node1 - 1u);
	}
	free(order);
	return ret;
}

int hl_replay_foreach_live_unordered(const struct hl_replay *r,
				     int (*fn)(void *ctx, uint64_t ptr, uint64_t size,
					       uint64_t node),
				     void *ctx)
{
	const struct live_table *tabs[2] = {&r->live, &r->seqlive};

	for (int k = 0; k < 2; k++) {
		const struct live_table *t = tabs[k];
		for (uint64_t i = 0; t->s && i <= t->mask; i++) {
			if (!t->s[i].node1)
				continue;
			int ret = fn(ctx, t->s[i].ptr, slot_size(r, &t->s[i]),
				     t->s[i].node1 - 1u);
			if (ret)
				return ret;
		}
	}
	for (uint64_t i = 0; r->ring && i < RING_LEN; i++) {
		if (!r->ring[i].node1)
			continue;
		int ret = fn(ctx, r->ring[i].ptr, slot_size(r, &r->ring[i]), r->ring[i].node1 - 1u);
		if (ret)
			return ret;
	}
	return 0;
}
