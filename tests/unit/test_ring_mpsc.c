/* test_ring_mpsc.c — the ring with several producers and one slow consumer.
 *
 * 1. exactly once: 4 producers (on a 2-core machine, so they are preempted
 *    inside reserve/commit), each record carrying (producer, per-producer
 *    seq) and a verifiable body: each arrives once, intact, and each
 *    producer's records in the order it made them.
 * 2. per-address order: the guarantee heapline's replay relies on
 *    (hl_ring.c, "Order").  Producers share a pool of fake addresses behind
 *    a mutex, as threads share an allocator.  "free" reserves and commits
 *    FREE(a), then returns a to the pool; "malloc" takes a from the pool,
 *    then reserves and commits ALLOC(a).  The consumer checks that every
 *    address alternates ALLOC, FREE, ALLOC, ... — never two ALLOCs without
 *    a FREE between.  A negative control runs the wrong protocol (reserve
 *    the ALLOC before taking the address) to show the checker can see a
 *    violation; it is reported, not required.
 * 3. lossy mode (nowait): with the consumer stopped, reserve fills the ring
 *    and then returns NULL without moving anything; after draining, every
 *    record that was reserved arrives intact.  Concurrently, the set of
 *    records that arrive is exactly the set whose reserve succeeded.  Also:
 *    records over a quarter of the ring are refused, and an uncommitted
 *    record holds back the committed ones behind it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "hl_ring.h"
#include "hl_test.h"

#define RING_BYTES (64u << 10)
#define NPROD      4

static struct hl_ring *ring;
static uint64_t seed;
static _Atomic int finished; /* producers done (all their commits happened before) */

static size_t rounded_payload(size_t len)
{
	return ((sizeof(struct hl_ring_hdr) + len + 7) & ~(size_t)7) - sizeof(struct hl_ring_hdr);
}

static uint64_t key_of(uint32_t prod, uint64_t seq)
{
	return seed ^ ((uint64_t)prod << 56) ^ (seq * 0x2545f4914f6cdd1dull);
}

/* Next committed record, or NULL once every producer has finished and the
 * ring is drained.  Sleeps (bounded) while producers are still going. */
static void *next_record(size_t *plen, uint64_t *empty)
{
	for (;;) {
		void *p = hl_ring_peek(ring, plen);
		if (p)
			return p;
		/* acquire: pairs with the producers' release increment, which
		 * follows their last commit */
		if (atomic_load_explicit(&finished, memory_order_acquire) == NPROD)
			return hl_ring_peek(ring, plen);
		(*empty)++;
		hl_ring_consumer_sleep(ring, 1);
	}
}

static void slow_consumer(uint64_t *rng)
{
	uint64_t x = t_rand(rng);
	if ((x & 31) == 0)
		sched_yield();
	if ((x >> 8 & 255) == 0)
		t_sleep_us((unsigned)t_range(rng, 20, 300));
}

static int start(pthread_t *th, void *(*fn)(void *))
{
	atomic_store(&finished, 0);
	for (uintptr_t i = 0; i < NPROD; i++)
		if (pthread_create(&th[i], NULL, fn, (void *)i)) {
			fprintf(stderr, "pthread_create failed\n");
			exit(T_EXIT_FAIL);
		}
	return 0;
}

static void join(pthread_t *th)
{
	for (int i = 0; i < NPROD; i++)
		pthread_join(th[i], NULL);
}

/* ---- 1. exactly once, per-producer order ---------------------------------- */

#define ONCE_RECORDS 150000u /* per producer */

struct once_rec {
	uint32_t prod;
	uint32_t req_len;
	uint64_t seq;
	uint64_t sum;
	uint8_t body[];
};

static void *once_producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t rng = seed + 100 + id;
	struct hl_ring_producer hint = {0, 0, 0, 0};
	for (uint64_t seq = 0; seq < ONCE_RECORDS; seq++) {
		uint32_t len = (uint32_t)t_range(&rng, sizeof(struct once_rec), 1000);
		struct once_rec *r = seq % 3 ? hl_ring_reserve_hint(ring, len, 0, &hint)
					     : hl_ring_reserve(ring, len, 0);
		if (!r) {
			CHECK(r, "blocking reserve returned NULL");
			break;
		}
		size_t body = len - sizeof(*r);
		r->prod = id;
		r->req_len = len;
		r->seq = seq;
		t_fill(r->body, body, key_of(id, seq));
		r->sum = t_fnv(r->body, body);
		if ((rng & 511) == 0)
			sched_yield(); /* hold the reservation open */
		hl_ring_commit(ring, r);
	}
	atomic_fetch_add_explicit(&finished, 1, memory_order_release);
	return NULL;
}

static void test_exactly_once(void)
{
	pthread_t th[NPROD];
	uint64_t next[NPROD] = {0}, rng = seed + 3, empty = 0, n = 0;
	double t0 = t_now();
	uint64_t cons0 = hl_ring_consumed(ring);

	start(th, once_producer);
	size_t plen;
	struct once_rec *r;
	while ((r = next_record(&plen, &empty)) && t_failures < 20) {
		n++;
		CHECK(r->prod < NPROD, "producer id %u", r->prod);
		if (r->prod >= NPROD) {
			hl_ring_release(ring);
			continue;
		}
		CHECK(r->seq == next[r->prod],
		      "producer %u: got seq %" PRIu64 ", expected %" PRIu64 " (%s)", r->prod, r->seq,
		      next[r->prod], r->seq < next[r->prod] ? "duplicate or reordered" : "lost");
		next[r->prod] = r->seq + 1;
		CHECK(plen == rounded_payload(r->req_len), "peek length %zu for a %u-byte reservation",
		      plen, r->req_len);
		size_t body = r->req_len - sizeof(*r);
		if (plen == rounded_payload(r->req_len)) {
			CHECK(r->sum == t_fnv(r->body, body), "producer %u seq %" PRIu64 ": checksum",
			      r->prod, r->seq);
			size_t bad = t_verify(r->body, body, key_of(r->prod, r->seq));
			CHECK(bad == body, "producer %u seq %" PRIu64 ": body differs at byte %zu",
			      r->prod, r->seq, bad);
		}
		hl_ring_release(ring);
		slow_consumer(&rng);
	}
	join(th);
	for (int i = 0; i < NPROD; i++)
		CHECK(next[i] == ONCE_RECORDS, "producer %d: %" PRIu64 " of %u records arrived", i,
		      next[i], ONCE_RECORDS);
	CHECK(hl_ring_backlog(ring) == 0, "backlog %" PRIu64, hl_ring_backlog(ring));
	printf("exactly once: %" PRIu64 " records from %d producers, %" PRIu64
	       " laps, %" PRIu64 " empty waits, %.2f s\n",
	       n, NPROD, (hl_ring_consumed(ring) - cons0) / RING_BYTES, empty, t_now() - t0);
}

/* ---- 2. per-address order --------------------------------------------------- */

#define ADDRS      16      /* small pool: addresses are reused constantly */
#define ADDR_OPS   200000u /* per producer */
#define MAX_OWNED  4

enum { EV_ALLOC = 1, EV_FREE = 2, EV_NOP = 3 };

struct addr_rec {
	uint32_t type;
	uint32_t prod;
	uint64_t addr;
	uint64_t seq;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t pool[ADDRS];
static int pool_n;
static int wrong_protocol; /* the negative control */

static void pool_reset(void)
{
	for (int i = 0; i < ADDRS; i++)
		pool[i] = 0x1000 + 16 * (uint64_t)i;
	pool_n = ADDRS;
}

/* "the real malloc": 0 if the pool is empty */
static uint64_t pool_take(void)
{
	uint64_t a = 0;
	pthread_mutex_lock(&pool_lock);
	if (pool_n)
		a = pool[--pool_n]; /* LIFO: the freed address is the next one handed out */
	pthread_mutex_unlock(&pool_lock);
	return a;
}

/* "the real free" */
static void pool_give(uint64_t a)
{
	pthread_mutex_lock(&pool_lock);
	pool[pool_n++] = a;
	pthread_mutex_unlock(&pool_lock);
}

static void maybe_yield(uint64_t *rng)
{
	if ((t_rand(rng) & 15) == 0)
		sched_yield();
}

static void emit(struct addr_rec *r, uint32_t type, uint32_t prod, uint64_t addr, uint64_t seq,
		 uint64_t *rng)
{
	r->type = type;
	r->prod = prod;
	r->addr = addr;
	r->seq = seq;
	maybe_yield(rng); /* between reserve and commit: others reserve after us meanwhile */
	hl_ring_commit(ring, r);
}

static void *addr_producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t rng = seed + 200 + id, owned[MAX_OWNED], seq = 0;
	struct hl_ring_producer hint = {0, 0, 0, 0};
	int n_owned = 0;
	for (uint32_t op = 0; op < ADDR_OPS || n_owned; op++) {
		int do_free = op >= ADDR_OPS || n_owned == MAX_OWNED ||
			      (n_owned && (t_rand(&rng) & 1));
		if (!do_free) {
			struct addr_rec *r = NULL;
			if (wrong_protocol) /* the bug the ring's protocol avoids */
				r = hl_ring_reserve(ring, sizeof(*r), 0);
			uint64_t a = pool_take();
			if (!a) {
				if (r)
					emit(r, EV_NOP, id, 0, seq++, &rng);
				sched_yield();
				continue;
			}
			maybe_yield(&rng); /* the allocator returned; the hook has not reserved yet */
			if (!r) /* the hooks' path: a per-thread stale cons */
				r = hl_ring_reserve_hint(ring, sizeof(*r), 0, &hint);
			emit(r, EV_ALLOC, id, a, seq++, &rng);
			owned[n_owned++] = a;
		} else {
			int i = (int)(t_rand(&rng) % (uint64_t)n_owned);
			uint64_t a = owned[i];
			owned[i] = owned[--n_owned];
			struct addr_rec *r = hl_ring_reserve_hint(ring, sizeof(*r), 0, &hint);
			emit(r, EV_FREE, id, a, seq++, &rng);
			maybe_yield(&rng); /* committed; the real free has not run yet */
			pool_give(a);
		}
	}
	atomic_fetch_add_explicit(&finished, 1, memory_order_release);
	return NULL;
}

/* Runs the scenario; returns the number of order violations seen. */
static uint64_t run_addr_order(int wrong, uint64_t *events)
{
	pthread_t th[NPROD];
	int state[ADDRS] = {0}; /* 0 free, 1 allocated */
	uint64_t next[NPROD] = {0}, rng = seed + 4, empty = 0, bad = 0;
	wrong_protocol = wrong;
	pool_reset();
	*events = 0;
	start(th, addr_producer);
	size_t plen;
	struct addr_rec *r;
	while ((r = next_record(&plen, &empty))) {
		(*events)++;
		if (!wrong)
			CHECK(r->prod < NPROD && r->seq == next[r->prod],
			      "producer %u: seq %" PRIu64 " out of order", r->prod, r->seq);
		if (r->prod < NPROD)
			next[r->prod] = r->seq + 1;
		if (r->type != EV_NOP) {
			uint64_t i = (r->addr - 0x1000) / 16;
			if (i >= ADDRS) {
				CHECK(i < ADDRS, "bad address %#" PRIx64, r->addr);
			} else if (r->type == EV_ALLOC) {
				if (state[i] == 1) {
					bad++;
					if (!wrong)
						CHECK(state[i] == 0,
						      "address %#" PRIx64 " allocated twice without a free "
						      "between (producer %u seq %" PRIu64 ")",
						      r->addr, r->prod, r->seq);
				}
				state[i] = 1;
			} else {
				if (state[i] == 0) {
					bad++;
					if (!wrong)
						CHECK(state[i] == 1,
						      "address %#" PRIx64 " freed while free (producer %u "
						      "seq %" PRIu64 ")",
						      r->addr, r->prod, r->seq);
				}
				state[i] = 0;
			}
		}
		hl_ring_release(ring);
		if (!wrong)
			slow_consumer(&rng);
	}
	join(th);
	if (!wrong)
		for (int i = 0; i < ADDRS; i++)
			CHECK(state[i] == 0, "address %d still allocated at the end", i);
	return bad;
}

static void test_address_order(void)
{
	uint64_t events;
	double t0 = t_now();
	uint64_t bad = run_addr_order(0, &events);
	printf("per-address order: %" PRIu64 " events on %d addresses, %" PRIu64
	       " violations, %.2f s\n",
	       events, ADDRS, bad, t_now() - t0);
	t0 = t_now();
	bad = run_addr_order(1, &events);
	printf("negative control (ALLOC reserved before the address is taken): %" PRIu64
	       " violations in %" PRIu64 " events, %.2f s%s\n",
	       bad, events, t_now() - t0,
	       bad ? " (the checker sees misordering)" : " (none provoked this run)");
}

/* ---- 3. lossy mode --------------------------------------------------------- */

struct lossy_rec {
	uint32_t prod;
	uint32_t req_len;
	uint64_t seq;
	uint8_t body[];
};

static void test_refusals(void)
{
	size_t quarter = RING_BYTES / 4 - sizeof(struct hl_ring_hdr);
	CHECK(hl_ring_reserve(ring, quarter + 1, 1) == NULL, "nowait: oversized record accepted");
	CHECK(hl_ring_reserve(ring, quarter + 1, 0) == NULL, "blocking: oversized record accepted");
	CHECK(hl_ring_backlog(ring) == 0, "a refused record moved prod");
	void *p = hl_ring_reserve(ring, quarter, 1);
	CHECK(p, "a record of exactly a quarter of the ring refused");
	if (p) {
		memset(p, 0xab, quarter);
		hl_ring_commit(ring, p);
		size_t plen;
		void *q = hl_ring_peek(ring, &plen);
		CHECK(q == p && plen == quarter, "quarter-ring record not read back");
		if (q)
			hl_ring_release(ring);
	}

	/* An uncommitted record holds back the committed one behind it. */
	uint64_t *a = hl_ring_reserve(ring, 8, 1), *b = hl_ring_reserve(ring, 8, 1);
	CHECK(a && b, "two small reservations");
	if (!a || !b)
		return;
	*a = 1;
	*b = 2;
	hl_ring_commit(ring, b);
	size_t plen;
	CHECK(hl_ring_peek(ring, &plen) == NULL, "consumer read past an uncommitted record");
	hl_ring_commit(ring, a);
	uint64_t *x = hl_ring_peek(ring, &plen);
	CHECK(x == a && *x == 1, "first record after commit");
	if (x)
		hl_ring_release(ring);
	x = hl_ring_peek(ring, &plen);
	CHECK(x == b && *x == 2, "second record after commit");
	if (x)
		hl_ring_release(ring);
	CHECK(hl_ring_peek(ring, &plen) == NULL, "ring empty again");

	/* A hint from long ago (here: 0, after laps) on an empty ring. */
	struct hl_ring_producer hint = {0, 0, 0, 0};
	void *h = hl_ring_reserve_hint(ring, 100, 1, &hint);
	CHECK(h != NULL, "nowait with a stale hint refused on an empty ring");
	CHECK(hint.cons_hint == hl_ring_consumed(ring), "hint %" PRIu64 " not refreshed to %" PRIu64, hint.cons_hint,
	      hl_ring_consumed(ring));
	if (h) {
		hl_ring_commit(ring, h);
		if (hl_ring_peek(ring, &plen))
			hl_ring_release(ring);
		CHECK(hl_ring_peek(ring, &plen) == NULL, "ring empty again");
	}
}

/* Single thread: fill with nowait until NULL, poke it more, drain, repeat. */
static void test_lossy_fill(void)
{
	uint64_t rng = seed + 5, seq = 0, rounds = 200, refused = 0;
	struct hl_ring_producer hint = {0, 0, 0, 0};
	for (uint64_t round = 0; round < rounds && t_failures < 20; round++) {
		uint64_t first = seq, used = 0;
		for (;;) {
			uint32_t len = (uint32_t)t_range(&rng, sizeof(struct lossy_rec), 3000);
			/* the hint outlives each round's drain: stale at the
			 * start of the next, it must be refreshed, not trusted */
			struct lossy_rec *r = seq & 1 ? hl_ring_reserve_hint(ring, len, 1, &hint)
						      : hl_ring_reserve(ring, len, 1);
			if (!r) {
				/* NULL only when the record (plus any padding to
				 * the wrap) really does not fit */
				uint64_t need = rounded_payload(len) + 8;
				uint64_t off = hl_ring_produced(ring) & (RING_BYTES - 1);
				uint64_t pad = off + need > RING_BYTES ? RING_BYTES - off : 0;
				CHECK(hl_ring_backlog(ring) + pad + need > RING_BYTES,
				      "nowait refused %u bytes with backlog %" PRIu64, len,
				      hl_ring_backlog(ring));
				break;
			}
			used += rounded_payload(len) + 8;
			r->prod = 0;
			r->req_len = len;
			r->seq = seq;
			t_fill(r->body, len - sizeof(*r), key_of(0, seq));
			seq++;
			hl_ring_commit(ring, r);
		}
		CHECK(hl_ring_backlog(ring) <= RING_BYTES, "backlog %" PRIu64 " over the ring size",
		      hl_ring_backlog(ring));
		/* A full ring keeps refusing and stays untouched. */
		uint64_t prod = hl_ring_produced(ring);
		for (int i = 0; i < 100; i++) {
			size_t len = (size_t)t_range(&rng, RING_BYTES / 8, RING_BYTES / 4 - 8);
			if (hl_ring_reserve(ring, len, 1) == NULL)
				refused++;
			else
				CHECK(0, "nowait accepted %zu bytes in a full ring", len);
		}
		CHECK(hl_ring_produced(ring) == prod, "a refused reserve moved prod");
		/* Drain: every accepted record intact, in order. */
		uint64_t expect = first;
		size_t plen;
		struct lossy_rec *r;
		while ((r = hl_ring_peek(ring, &plen))) {
			CHECK(r->seq == expect, "drain: seq %" PRIu64 " expected %" PRIu64, r->seq,
			      expect);
			size_t body = r->req_len - sizeof(*r);
			size_t bad = t_verify(r->body, body, key_of(0, r->seq));
			CHECK(bad == body, "drain: seq %" PRIu64 " body differs at %zu", r->seq, bad);
			expect = r->seq + 1;
			hl_ring_release(ring);
		}
		CHECK(expect == seq, "drained up to %" PRIu64 " of %" PRIu64, expect, seq);
		CHECK(hl_ring_backlog(ring) == 0, "backlog after drain");
		(void)used;
	}
	printf("lossy fill: %" PRIu64 " rounds of fill-until-refused, %" PRIu64
	       " records, %" PRIu64 " refusals on a full ring\n",
	       rounds, seq, refused);
}

/* Concurrent lossy producers: what arrives is exactly what was accepted. */
#define LOSSY_RECORDS 100000u /* attempts per producer */
static uint8_t accepted[NPROD][LOSSY_RECORDS];
static uint8_t arrived[NPROD][LOSSY_RECORDS];
static _Atomic uint64_t lost;

static void *lossy_producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t rng = seed + 300 + id;
	struct hl_ring_producer hint = {0, 0, 0, 0};
	for (uint64_t seq = 0; seq < LOSSY_RECORDS; seq++) {
		/* pauses, so the ring drains now and then: losses come in
		 * bursts between stretches where everything fits */
		if ((seq & 127) == 0)
			t_sleep_us(200);
		uint32_t len = (uint32_t)t_range(&rng, sizeof(struct lossy_rec), 600);
		struct lossy_rec *r = hl_ring_reserve_hint(ring, len, 1, &hint);
		if (!r) {
			atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
			continue;
		}
		accepted[id][seq] = 1;
		r->prod = id;
		r->req_len = len;
		r->seq = seq;
		t_fill(r->body, len - sizeof(*r), key_of(id, seq));
		hl_ring_commit(ring, r);
	}
	atomic_fetch_add_explicit(&finished, 1, memory_order_release);
	return NULL;
}

static void test_lossy_concurrent(void)
{
	pthread_t th[NPROD];
	uint64_t rng = seed + 6, empty = 0, n = 0;
	int64_t last[NPROD];
	for (int i = 0; i < NPROD; i++)
		last[i] = -1;
	double t0 = t_now();
	start(th, lossy_producer);
	size_t plen;
	struct lossy_rec *r;
	while ((r = next_record(&plen, &empty)) && t_failures < 20) {
		n++;
		if (r->prod >= NPROD || r->seq >= LOSSY_RECORDS) {
			CHECK(0, "garbage record: producer %u seq %" PRIu64, r->prod, r->seq);
			hl_ring_release(ring);
			continue;
		}
		CHECK((int64_t)r->seq > last[r->prod], "producer %u: seq %" PRIu64 " after %" PRId64,
		      r->prod, r->seq, last[r->prod]);
		last[r->prod] = (int64_t)r->seq;
		CHECK(!arrived[r->prod][r->seq], "producer %u seq %" PRIu64 " twice", r->prod, r->seq);
		arrived[r->prod][r->seq] = 1;
		size_t body = r->req_len - sizeof(*r);
		CHECK(plen == rounded_payload(r->req_len), "peek length %zu for %u", plen, r->req_len);
		size_t bad = t_verify(r->body, body, key_of(r->prod, r->seq));
		CHECK(bad == body, "producer %u seq %" PRIu64 ": body differs at %zu", r->prod, r->seq,
		      bad);
		hl_ring_release(ring);
		/* much slower than the producers, so the ring overflows */
		if ((t_rand(&rng) & 63) == 0)
			t_sleep_us(50);
	}
	join(th);
	uint64_t missing = 0, extra = 0;
	for (int p = 0; p < NPROD; p++)
		for (uint32_t s = 0; s < LOSSY_RECORDS; s++) {
			missing += accepted[p][s] && !arrived[p][s];
			extra += !accepted[p][s] && arrived[p][s];
		}
	CHECK(missing == 0, "%" PRIu64 " accepted records never arrived", missing);
	CHECK(extra == 0, "%" PRIu64 " refused records arrived", extra);
	CHECK(n + lost == (uint64_t)NPROD * LOSSY_RECORDS,
	      "%" PRIu64 " arrived + %" PRIu64 " lost != %u attempts", n, (uint64_t)lost,
	      NPROD * LOSSY_RECORDS);
	CHECK(lost > 0, "nothing was lost: the consumer was not slow enough to test lossy mode");
	CHECK(n > LOSSY_RECORDS / 4, "only %" PRIu64 " records arrived", n);
	printf("lossy concurrent: %" PRIu64 " arrived, %" PRIu64 " refused (lost), %.2f s\n", n,
	       (uint64_t)lost, t_now() - t0);
}

int main(void)
{
	t_watchdog(100);
	seed = t_seed();
	ring = hl_ring_create(RING_BYTES);
	if (!ring) {
		fprintf(stderr, "hl_ring_create failed\n");
		return T_EXIT_FAIL;
	}
	test_exactly_once();
	test_address_order();
	test_refusals();
	test_lossy_fill();
	test_lossy_concurrent();
	hl_ring_destroy(ring);
	return t_result("ring_mpsc");
}
