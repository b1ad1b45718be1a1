/* test_ring_abandon.c — a claim its producer will never commit (a signal
 * handler ended the process from inside the hook) becomes padding: the
 * consumer skips it, and everything reserved after it arrives in order.
 *
 * A 4 KiB ring; records of 100..300 bytes.  Each round, one producer
 * reserves three records; in two rounds of three the first is abandoned
 * (hl_ring_abandon on its noted claim), the others are committed after
 * their claim is cleared, and abandon is then called again with nothing
 * noted, which must change nothing.  Claims at the wrap take padding
 * first; those are abandoned too.  The consumer drains after every round
 * and must read exactly the committed records, in order, intact.
 */
#include <inttypes.h>

#include "hl_ring.h"
#include "hl_test.h"

#define RING_BYTES 4096u
#define ROUNDS	   20000u

struct rec {
	uint64_t seq;
	uint32_t len; /* payload bytes asked for */
	uint32_t zero;
	uint8_t body[];
};

static uint64_t padded_abandons;

/* One record; 1 if it was committed. */
static int put(struct hl_ring *r, struct hl_ring_producer *p, uint64_t seq, uint32_t len,
	       int abandon)
{
	struct rec *x = hl_ring_reserve_hint(r, len, 1, p);
	CHECK(x != NULL, "reserve refused in a drained ring (record %" PRIu64 ")", seq);
	if (!x)
		return 0;
	CHECK(p->pending_len != 0, "no claim noted for record %" PRIu64, seq);
	x->seq = seq;
	x->len = len;
	t_fill(x->body, len - sizeof(*x), seq);
	if (abandon) {
		padded_abandons += p->pending_pad != 0;
		hl_ring_abandon(r, p);
		CHECK(p->pending_len == 0, "claim still noted after abandon");
		return 0;
	}
	p->pending_len = 0;
	hl_ring_commit(r, x);
	hl_ring_abandon(r, p); /* nothing noted: must not touch anything */
	return 1;
}

int main(void)
{
	t_watchdog(30);
	uint64_t rng = t_seed(), seq = 0, abandoned = 0;
	struct hl_ring *r = hl_ring_create(RING_BYTES);
	struct hl_ring_producer p = {0, 0, 0, 0};
	CHECK(r != NULL, "create");
	if (!r)
		return t_result("ring_abandon");
	for (uint64_t round = 0; round < ROUNDS; round++) {
		uint64_t want[3];
		int nwant = 0;
		for (int k = 0; k < 3; k++) {
			uint32_t len = (uint32_t)t_range(&rng, 100, 300);
			int abandon = k == 0 && round % 3 != 2;
			abandoned += abandon;
			if (put(r, &p, seq, len, abandon))
				want[nwant++] = seq;
			seq++;
		}
		size_t n;
		int got = 0;
		struct rec *x;
		while ((x = hl_ring_peek(r, &n))) {
			CHECK(got < nwant, "round %" PRIu64 ": more records than committed", round);
			if (got < nwant)
				CHECK(x->seq == want[got], "read %" PRIu64 ", expected %" PRIu64, x->seq,
				      want[got]);
			CHECK(x->len <= n, "asked %u bytes, got %zu", x->len, n);
			CHECK(t_verify(x->body, x->len - sizeof(*x), x->seq) == x->len - sizeof(*x),
			      "record %" PRIu64 " corrupt", x->seq);
			got++;
			hl_ring_release(r);
		}
		CHECK(got == nwant, "round %" PRIu64 ": read %d of %d records", round, got, nwant);
	}
	printf("%u rounds: %" PRIu64 " records abandoned (%" PRIu64 " behind padding at the wrap)\n",
	       ROUNDS, abandoned, padded_abandons);
	CHECK(padded_abandons > 0, "no abandoned claim fell at the wrap");
	hl_ring_destroy(r);
	return t_result("ring_abandon");
}
