/* test_ring_give_up.c — a full ring with no consumer: a waiting producer
 * asks its give_up check once the consumer has not moved for a while, and
 * stops waiting when it says so (a process made without fork() has a copy
 * of the ring and no writer).  While a consumer drains, the check is not
 * what ends the wait.
 *
 * 1. A 64 KiB ring, no consumer: records are reserved and committed until
 *    one waits.  give_up answers 0 twice, then 1: the reservation returns
 *    NULL, after three calls, having slept at least 3 x 8 x ~2 ms.
 * 2. The same ring with a consumer thread that starts draining 50 ms later,
 *    and give_up answering 0: the waiting reservation succeeds.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>

#include "hl_ring.h"
#include "hl_test.h"

#define RING_BYTES (64u << 10)

static _Atomic int calls, answer_after;

static int give_up(const struct hl_ring *r)
{
	(void)r;
	return ++calls > answer_after;
}

/* Reserves and commits 64-byte records until one would wait (nowait). */
static void fill(struct hl_ring *r)
{
	void *p;
	while ((p = hl_ring_reserve(r, 64, 1)) != NULL) {
		memset(p, 0xab, 64);
		hl_ring_commit(r, p);
	}
}

static void *consumer(void *arg)
{
	struct hl_ring *r = arg;
	t_sleep_us(50000);
	for (int idle = 0; idle < 200;) {
		size_t n;
		if (hl_ring_peek(r, &n)) {
			hl_ring_release(r);
			idle = 0;
		} else {
			idle++;
			t_sleep_us(1000);
		}
	}
	return NULL;
}

int main(void)
{
	t_watchdog(30);

	struct hl_ring *r = hl_ring_create(RING_BYTES);
	CHECK(r != NULL, "create");
	hl_ring_set_give_up(r, give_up);
	fill(r);
	answer_after = 2;
	double t0 = t_now();
	void *p = hl_ring_reserve(r, 64, 0);
	double waited = t_now() - t0;
	CHECK(p == NULL, "a reservation with no consumer ended without giving up");
	CHECK(calls == 3, "give_up called %d times, expected 3", (int)calls);
	CHECK(waited >= 0.03, "gave up after %.3f s, before 3 x 8 sleeps", waited);
	hl_ring_destroy(r);

	r = hl_ring_create(RING_BYTES);
	CHECK(r != NULL, "create");
	hl_ring_set_give_up(r, give_up);
	fill(r);
	calls = 0;
	answer_after = 1000000; /* "keep waiting" */
	pthread_t th;
	pthread_create(&th, NULL, consumer, r);
	p = hl_ring_reserve(r, 64, 0);
	CHECK(p != NULL, "the reservation failed although a consumer drains");
	if (p)
		hl_ring_commit(r, p);
	pthread_join(th, NULL);
	printf("no consumer: gave up after %d checks, %.3f s; with one: %d checks before it came\n",
	       3, waited, (int)calls);
	hl_ring_destroy(r);
	return t_result("ring_give_up");
}
