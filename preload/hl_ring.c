/* hl_ring.c — lock-free multi-producer, single-consumer ring of
 * variable-length records.  Exports hl_ring_*.  Never calls malloc, never
 * takes a lock: a producer runs inside the program's malloc and free.
 *
 * Contract: any number of producers, exactly one consumer (the writer
 * thread).  Nothing is lost: a producer that finds the ring full waits for
 * the consumer (or, with nowait, gets NULL and counts a lost event).
 *
 *          cons                          prod
 *           |                              |
 *   ... ----+-------+------+-------+-------+---------------- ...
 *           | READY | EMPTY| READY | EMPTY |   free space
 *           +-------+------+-------+-------+
 *            oldest  reserved, not yet committed
 *
 * Positions `prod` and `cons` are byte counters that only grow; the offset in
 * the buffer is position & mask.  Owners: `prod` is advanced by producers with
 * a CAS; `cons` is written only by the consumer.  They live on separate cache
 * lines (struct layout below).
 *
 * Reserve: a producer reads cons (acquire, pairs with the consumer's release
 * of cons in hl_ring_release, so the zeroed headers it left are visible), then
 * claims [prod, prod+len) with a CAS on prod.  If the record would run past the
 * end of the buffer, it claims the tail too and fills it with a PAD record,
 * so a record is always contiguous.  Claimed bytes are zero (the consumer
 * zeroes what it consumes), so the header reads EMPTY until committed.
 *
 * Fill + commit: the producer writes its payload, then stores the header's
 * state word READY with release (pairs with the consumer's acquire load of the
 * state in hl_ring_peek).  Records become visible in reservation order, which
 * is the order the consumer reads them: the consumer stops at the first
 * EMPTY header even if later ones are READY.
 *
 * Order: because a record's place is fixed when it is reserved, callers get
 * per-address order by reserving at the right moment: a free reserves and
 * commits before the real free runs, an allocation reserves after the real
 * allocator returned (hl_hooks.c).  The allocator's own synchronisation
 * orders "B's free returned p" before "C's malloc returned p", so B's
 * reservation precedes C's.
 *
 * Cheap paths: a producer keeps its own stale copy of cons (a hint) and
 * reloads the shared one only when the hint says the ring is full, so the
 * consumer's line is not pulled on every event.  The consumer reads ahead
 * privately (`cpos`) and publishes cons in batches (every eighth of the ring,
 * and whenever it finds nothing to read), also while producers wait: one
 * wake-up an eighth, not one a record.
 *
 * Full: a producer that finds no space spins briefly, then registers in
 * `waiters`, looks at cons once more, and sleeps on the futex word
 * `space_seq` unless cons moved; the consumer stores cons, then bumps
 * space_seq (and wakes) when waiters is nonzero.  Both sides order their
 * store before their load (seq_cst), so one of them sees the other: space
 * released between the producer's last look and its registering no longer
 * costs it a full sleep.  Sleeps stay bounded (2 ms: the consumer may be
 * off the CPU that long), so anything else costs time, never a hang.
 *
 * No consumer: a process made without fork() (a raw clone system call,
 * _Fork) has a copy of the ring and no writer thread.  After STALL_SLEEPS
 * sleeps in a row with cons unmoved, a producer asks the owner's give_up
 * check (hl_ring_set_give_up); if it says so, the reservation fails as in
 * nowait, instead of waiting for ever.
 */
#include "hl_ring.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CACHELINE 64

struct hl_ring {
	/* read-mostly */
	uint8_t *buf;
	uint64_t size, mask;
	uint64_t map_len;
	/* producers' line */
	_Alignas(CACHELINE) _Atomic uint64_t prod;
	/* consumer's line */
	_Alignas(CACHELINE) _Atomic uint64_t cons;
	uint64_t cpos;	   /* consumer only: next record to read (>= cons) */
	uint64_t peek_len; /* length of the record hl_ring_peek returned (consumer only) */
	/* wake-ups */
	_Alignas(CACHELINE) _Atomic uint32_t space_seq; /* futex: space was released */
	_Atomic uint32_t waiters;			/* producers sleeping on space_seq */
	_Atomic uint32_t consumer_seq;			/* futex: consumer wanted */
	_Atomic uint32_t consumer_sleeping;
	_Atomic uint64_t full; /* times a producer found the ring full (waited or dropped) */
	int (*give_up)(const struct hl_ring *r); /* may a producer stop waiting? (NULL: never) */
};

#define STALL_SLEEPS 8 /* ~16 ms of sleeps with cons unmoved before give_up */

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

struct hl_ring *hl_ring_create(size_t bytes)
{
	size_t ctl = (sizeof(struct hl_ring) + 4095) & ~(size_t)4095;
	size_t len = ctl + bytes;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	struct hl_ring *r = (struct hl_ring *)m;
	r->buf = m + ctl;
	r->size = bytes;
	r->mask = bytes - 1;
	r->map_len = len;
	return r;
}

void hl_ring_destroy(struct hl_ring *r)
{
	if (r)
		munmap(r, r->map_len);
}

size_t hl_ring_size(const struct hl_ring *r)
{
	return r->size;
}

void hl_ring_set_give_up(struct hl_ring *r, int (*give_up)(const struct hl_ring *r))
{
	r->give_up = give_up;
}

/* The ring is full with cons at cons_seen: waits until the consumer moves
 * it (spinning, then yielding, then sleeping on space_seq), or until, after
 * STALL_SLEEPS sleeps without a move, give_up says to stop.  Returns 0 to
 * look again, -1 to give up.  Out of line: the reserve's own path carries
 * none of this. */
static __attribute__((noinline, cold)) int wait_for_space(struct hl_ring *r, uint64_t cons_seen)
{
	atomic_fetch_add_explicit(&r->full, 1, memory_order_relaxed);
	for (unsigned spins = 1, stalls = 0;; spins++) {
		if (atomic_load_explicit(&r->cons, memory_order_acquire) != cons_seen)
			return 0;
		if (spins < 64) {
			cpu_relax();
			continue;
		}
		if (spins < 80) {
			sched_yield();
			continue;
		}
		if (++stalls >= STALL_SLEEPS && r->give_up) {
			stalls = 0;
			if (r->give_up(r))
				return -1;
		}
		hl_ring_wake_consumer(r);
		uint32_t seq = atomic_load_explicit(&r->space_seq, memory_order_acquire);
		atomic_fetch_add_explicit(&r->waiters, 1, memory_order_seq_cst);
		/* Space released before the consumer could see us registered: no
		 * sleep.  After it, the consumer bumps space_seq and the wait
		 * returns at once (the value is no longer seq). */
		if (atomic_load_explicit(&r->cons, memory_order_seq_cst) == cons_seen) {
			struct timespec ts = {0, 2 * 1000 * 1000};
			futex(&r->space_seq, FUTEX_WAIT_PRIVATE, seq, &ts);
		}
		atomic_fetch_sub_explicit(&r->waiters, 1, memory_order_relaxed);
	}
}

void *hl_ring_reserve(struct hl_ring *r, size_t payload_len, int nowait)
{
	struct hl_ring_producer p = {0, 0, 0, 0};
	return hl_ring_reserve_hint(r, payload_len, nowait, &p);
}

void *hl_ring_reserve_hint(struct hl_ring *r, size_t payload_len, int nowait,
			   struct hl_ring_producer *prod)
{
	uint64_t *hint = &prod->cons_hint;
	uint64_t len = (sizeof(struct hl_ring_hdr) + payload_len + 7) & ~(uint64_t)7;
	if (len > r->size / 4)
		return NULL;
	uint64_t pos = atomic_load_explicit(&r->prod, memory_order_relaxed);
	uint64_t cons = *hint;
	for (;;) {
		uint64_t off = pos & r->mask;
		uint64_t pad = (off + len > r->size) ? r->size - off : 0;
		if (pos + pad + len - cons > r->size) {
			/* acquire: pairs with the release store of cons in
			 * publish(): the zeroed headers it left are visible */
			uint64_t fresh = atomic_load_explicit(&r->cons, memory_order_acquire);
			/* prod is re-read after cons: with a stale pos the
			 * difference can wrap and look full when it is not. */
			uint64_t p2 = atomic_load_explicit(&r->prod, memory_order_relaxed);
			if (fresh != cons || p2 != pos) {
				cons = *hint = fresh;
				pos = p2;
				continue;
			}
			if (nowait) {
				atomic_fetch_add_explicit(&r->full, 1, memory_order_relaxed);
				return NULL;
			}
			if (wait_for_space(r, fresh))
				return NULL;
			pos = atomic_load_explicit(&r->prod, memory_order_relaxed);
			continue;
		}
		if (!atomic_compare_exchange_weak_explicit(&r->prod, &pos, pos + pad + len,
							   memory_order_relaxed,
							   memory_order_relaxed))
			continue;
		/* Noted before the first store into the ring, which may miss
		 * the cache: a signal handler can abandon the claim from here. */
		prod->pending_pos = pos;
		prod->pending_pad = (uint32_t)pad;
		prod->pending_len = (uint32_t)len;
		if (pad) {
			struct hl_ring_hdr *ph = (struct hl_ring_hdr *)(r->buf + off);
			ph->len = (uint32_t)pad;
			/* release: pairs with the acquire load in hl_ring_peek */
			atomic_store_explicit((_Atomic uint32_t *)&ph->state, HL_RING_PAD,
					      memory_order_release);
			off = 0;
		}
		struct hl_ring_hdr *h = (struct hl_ring_hdr *)(r->buf + off);
		h->len = (uint32_t)len;
		/* Half full and the consumer asleep: wake it early (checked
		 * against the fresh position: the hint overstates the fill). */
		if (pos + pad + len - cons > r->size / 2 &&
		    atomic_load_explicit(&r->consumer_sleeping, memory_order_relaxed)) {
			*hint = atomic_load_explicit(&r->cons, memory_order_acquire);
			if (pos + pad + len - *hint > r->size / 2)
				hl_ring_wake_consumer(r);
		}
		return h + 1;
	}
}

/* Writes a PAD header of len bytes at off (what the producer would have
 * written there, or padding instead of its record). */
static void put_pad(struct hl_ring *r, uint64_t off, uint32_t len)
{
	struct hl_ring_hdr *h = (struct hl_ring_hdr *)(r->buf + off);
	h->len = len;
	/* release: pairs with the acquire load of state in hl_ring_peek,
	 * which then skips len bytes */
	atomic_store_explicit((_Atomic uint32_t *)&h->state, HL_RING_PAD, memory_order_release);
}

void hl_ring_abandon(struct hl_ring *r, struct hl_ring_producer *p)
{
	if (!p->pending_len)
		return;
	uint64_t off = p->pending_pos & r->mask;
	if (p->pending_pad) {
		put_pad(r, off, p->pending_pad);
		off = 0;
	}
	put_pad(r, off, p->pending_len);
	p->pending_len = 0;
}

void hl_ring_commit(struct hl_ring *r, void *payload)
{
	(void)r;
	struct hl_ring_hdr *h = (struct hl_ring_hdr *)payload - 1;
	/* release: the payload is visible before READY; pairs with the acquire
	 * load of state in hl_ring_peek */
	atomic_store_explicit((_Atomic uint32_t *)&h->state, HL_RING_READY, memory_order_release);
}

/* Hands the consumed bytes [cons, cpos) back to producers. */
static void publish(struct hl_ring *r)
{
	uint64_t cons = atomic_load_explicit(&r->cons, memory_order_relaxed);
	if (cons == r->cpos)
		return;
	/* Zero what we consumed so the next lap's headers read EMPTY until
	 * their producers commit.  The range may wrap. */
	uint64_t off = cons & r->mask, n = r->cpos - cons;
	uint64_t first = n < r->size - off ? n : r->size - off;
	memset(r->buf + off, 0, first);
	if (n > first)
		memset(r->buf, 0, n - first);
	/* release: pairs with the acquire load of cons in hl_ring_reserve_hint;
	 * seq_cst: ordered before the load of waiters (see the top) */
	atomic_store_explicit(&r->cons, r->cpos, memory_order_seq_cst);
	if (atomic_load_explicit(&r->waiters, memory_order_seq_cst)) {
		atomic_fetch_add_explicit(&r->space_seq, 1, memory_order_release);
		futex(&r->space_seq, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL);
	}
}

void *hl_ring_peek(struct hl_ring *r, size_t *payload_len)
{
	for (;;) {
		struct hl_ring_hdr *h = (struct hl_ring_hdr *)(r->buf + (r->cpos & r->mask));
		/* acquire: pairs with the release store in hl_ring_commit / the PAD store */
		uint32_t st =
		    atomic_load_explicit((_Atomic uint32_t *)&h->state, memory_order_acquire);
		if (st == HL_RING_EMPTY) {
			publish(r);
			return NULL;
		}
		if (st == HL_RING_PAD) {
			r->cpos += h->len;
			continue;
		}
		r->peek_len = h->len;
		*payload_len = h->len - sizeof(*h);
		return h + 1;
	}
}

void hl_ring_release(struct hl_ring *r)
{
	r->cpos += r->peek_len;
	if (r->cpos - atomic_load_explicit(&r->cons, memory_order_relaxed) >= r->size / 8)
		publish(r);
}

uint64_t hl_ring_backlog(const struct hl_ring *r)
{
	return atomic_load_explicit(&r->prod, memory_order_relaxed) -
	       atomic_load_explicit(&r->cons, memory_order_relaxed);
}

uint64_t hl_ring_produced(const struct hl_ring *r)
{
	return atomic_load_explicit(&r->prod, memory_order_acquire);
}

uint64_t hl_ring_full_count(const struct hl_ring *r)
{
	return atomic_load_explicit(&r->full, memory_order_relaxed);
}

uint64_t hl_ring_consumed(const struct hl_ring *r)
{
	return r->cpos; /* consumer only */
}

void hl_ring_consumer_sleep(struct hl_ring *r, unsigned ms)
{
	uint32_t seq = atomic_load_explicit(&r->consumer_seq, memory_order_acquire);
	atomic_store_explicit(&r->consumer_sleeping, 1, memory_order_seq_cst);
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	futex(&r->consumer_seq, FUTEX_WAIT_PRIVATE, seq, &ts);
	atomic_store_explicit(&r->consumer_sleeping, 0, memory_order_relaxed);
}

void hl_ring_wake_consumer(struct hl_ring *r)
{
	atomic_fetch_add_explicit(&r->consumer_seq, 1, memory_order_release);
	futex(&r->consumer_seq, FUTEX_WAKE_PRIVATE, 1, NULL);
}
