/* test_ring_spsc.c — the ring with one producer and one slow consumer: every
 * record arrives exactly once, in order, intact, while the ring wraps and
 * fills thousands of times.
 *
 * The ring is 64 KiB; records have 24..2000 payload bytes (odd lengths too,
 * so the rounding to 8 and the PAD record at the wrap are exercised).  Each
 * payload carries its sequence number, its requested length, a checksum of
 * its body, and a body the consumer regenerates from the sequence number and
 * compares byte for byte.  The consumer sleeps and yields at random so the
 * producer keeps finding the ring full and has to wait.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "hl_ring.h"
#include "hl_test.h"

#define RING_BYTES (64u << 10)
#define RECORDS    300000u
#define MIN_LEN    24u
#define MAX_LEN    2000u

struct rec {
	uint64_t seq;
	uint32_t req_len; /* payload bytes the producer asked for */
	uint32_t zero;
	uint64_t sum;     /* t_fnv of the body */
	uint8_t body[];
};

static struct hl_ring *ring;
static uint64_t seed;
static uint64_t fills; /* reservations that found the ring full (producer only) */

static uint64_t key_of(uint64_t seq)
{
	return seed ^ (seq * 0x2545f4914f6cdd1dull);
}

static size_t rounded_payload(size_t len)
{
	return ((sizeof(struct hl_ring_hdr) + len + 7) & ~(size_t)7) - sizeof(struct hl_ring_hdr);
}

static void *producer(void *arg)
{
	uint64_t rng = seed + 1;
	struct hl_ring_producer hint = {0, 0, 0, 0};
	(void)arg;
	for (uint64_t seq = 0; seq < RECORDS; seq++) {
		uint32_t len = (uint32_t)t_range(&rng, MIN_LEN, MAX_LEN);
		/* Full as the producer sees it (the wrap's padding can make a
		 * nearly-full ring full too; this counts the plain case). */
		if (hl_ring_size(ring) - hl_ring_backlog(ring) < rounded_payload(len) + 8)
			fills++;
		/* both entry points: the hooks use the hinted one for events */
		struct rec *r = seq & 1 ? hl_ring_reserve_hint(ring, len, 0, &hint)
					: hl_ring_reserve(ring, len, 0);
		if (!r) {
			CHECK(r, "blocking reserve of %u bytes returned NULL", len);
			abort();
		}
		size_t body = len - sizeof(*r);
		t_fill(r->body, body, key_of(seq));
		r->seq = seq;
		r->req_len = len;
		r->zero = 0;
		r->sum = t_fnv(r->body, body);
		/* Now and then hold the record reserved but uncommitted for a
		 * while: the consumer must stop there, not skip it. */
		if ((rng & 1023) == 0)
			sched_yield();
		hl_ring_commit(ring, r);
	}
	return NULL;
}

int main(void)
{
	t_watchdog(60);
	seed = t_seed();
	ring = hl_ring_create(RING_BYTES);
	if (!ring) {
		fprintf(stderr, "hl_ring_create failed\n");
		return T_EXIT_FAIL;
	}

	pthread_t th;
	double t0 = t_now();
	if (pthread_create(&th, NULL, producer, NULL)) {
		fprintf(stderr, "pthread_create failed\n");
		return T_EXIT_FAIL;
	}

	uint64_t rng = seed + 2, expect = 0, empty = 0, sleeps = 0;
	while (expect < RECORDS && t_failures < 20) {
		size_t plen;
		struct rec *r = hl_ring_peek(ring, &plen);
		if (!r) {
			empty++;
			hl_ring_consumer_sleep(ring, 1);
			continue;
		}
		CHECK(((uintptr_t)r & 7) == 0, "payload %p not 8-aligned", (void *)r);
		CHECK(r->seq == expect, "got seq %" PRIu64 ", expected %" PRIu64, r->seq, expect);
		CHECK(r->req_len >= MIN_LEN && r->req_len <= MAX_LEN, "seq %" PRIu64 ": length %u",
		      r->seq, r->req_len);
		if (r->req_len >= MIN_LEN && r->req_len <= MAX_LEN) {
			size_t body = r->req_len - sizeof(*r);
			CHECK(plen == rounded_payload(r->req_len),
			      "seq %" PRIu64 ": peek says %zu bytes for a %u-byte reservation", r->seq,
			      plen, r->req_len);
			CHECK(r->sum == t_fnv(r->body, body), "seq %" PRIu64 ": checksum mismatch",
			      r->seq);
			size_t bad = t_verify(r->body, body, key_of(r->seq));
			CHECK(bad == body, "seq %" PRIu64 ": body differs at byte %zu of %zu", r->seq,
			      bad, body);
		}
		expect = r->seq + 1; /* resynchronise after a failure */
		hl_ring_release(ring);

		/* The slow consumer: short stalls often, longer ones rarely. */
		uint64_t x = t_rand(&rng);
		if ((x & 63) == 0)
			sched_yield();
		if ((x >> 8 & 255) == 0) {
			t_sleep_us((unsigned)t_range(&rng, 20, 300));
			sleeps++;
		}
	}
	pthread_join(th, NULL);

	size_t plen;
	CHECK(hl_ring_peek(ring, &plen) == NULL, "a record after the last one");
	CHECK(hl_ring_backlog(ring) == 0, "backlog %" PRIu64 " after draining", hl_ring_backlog(ring));
	CHECK(hl_ring_produced(ring) == hl_ring_consumed(ring), "produced %" PRIu64 " consumed %" PRIu64,
	      hl_ring_produced(ring), hl_ring_consumed(ring));
	uint64_t laps = hl_ring_consumed(ring) / RING_BYTES;
	printf("%u records, %" PRIu64 " laps of the ring, producer found it full %" PRIu64
	       " times, consumer slept %" PRIu64 " times on its own and %" PRIu64
	       " times on an empty ring, %.2f s\n",
	       RECORDS, laps, fills, sleeps, empty, t_now() - t0);
	CHECK(laps >= 1000, "only %" PRIu64 " laps: the test did not wrap enough", laps);
	CHECK(fills >= 1000, "the ring was full only %" PRIu64 " times: consumer not slow enough",
	      fills);
	hl_ring_destroy(ring);
	return t_result("ring_spsc");
}
