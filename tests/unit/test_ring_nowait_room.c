/* test_ring_nowait_room.c — a lossy (nowait) reserve refuses only when the
 * ring is full: a producer that is interrupted inside hl_ring_reserve while
 * the ring moves on must not count an event lost in an almost empty ring.
 *
 * Setup: a 4 MiB ring that stays nearly empty — producer A reserves 16-byte
 * records with nowait at a modest rate, producer B adds small bursts and
 * sleeps, and the consumer drains continuously.  A timer interrupts A every
 * 500 us at a random point; unless A holds an uncommitted record (which
 * would hold the consumer back), the signal handler stalls A until the
 * consumer has moved past where prod was when the signal arrived (as a
 * preemption would, on a busy machine).  Any NULL from A while the ring is far from
 * full is a spurious loss.
 *
 * What it catches: hl_ring_reserve_hint loads prod, then (on the full path)
 * cons.  If the ring advances in between by more than the record, the stale
 * `pos + pad + len - cons` underflows, looks like "more than full", and with
 * nowait the call returns NULL without reloading prod.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "hl_ring.h"
#include "hl_test.h"

#define RING_BYTES (4u << 20)
#define RUN_SECONDS 3.0

static struct hl_ring *ring;
static _Atomic int stop;
static _Atomic pid_t a_tid;
static volatile sig_atomic_t a_holding; /* A has reserved and not yet committed */
static _Atomic uint64_t attempts, refused, refused_with_room, stalls;
static uint64_t worst_backlog_at_refusal;

static double now(void)
{
	return t_now(); /* clock_gettime: async-signal-safe */
}

/* Stalls producer A until cons has passed prod-at-signal by a few records. */
static void on_tick(int sig)
{
	(void)sig;
	if (a_holding)
		return;
	uint64_t p0 = hl_ring_produced(ring);
	double end = now() + 0.00025;
	while (now() < end) {
		uint64_t prod = hl_ring_produced(ring);
		uint64_t cons = prod - hl_ring_backlog(ring); /* approximate: two loads */
		if (cons >= p0 + 256)
			break;
	}
	stalls++;
}

/* Bytes in the ring as another thread sees it (cons may pass a stale prod). */
static uint64_t fill(void)
{
	int64_t b = (int64_t)hl_ring_backlog(ring);
	return b < 0 ? 0 : (uint64_t)b;
}

static void *producer_a(void *arg)
{
	(void)arg;
	uint64_t rng = 7;
	atomic_store(&a_tid, (pid_t)syscall(SYS_gettid));
	while (!atomic_load(&stop)) {
		attempts++;
		uint64_t before = fill();
		uint64_t *p = hl_ring_reserve(ring, 16, 1);
		if (!p) {
			/* Far from full just before and just after the call:
			 * the ring cannot have filled (and drained again) in
			 * between at B's rate, so the refusal was spurious. */
			uint64_t after = fill();
			refused++;
			if (before < RING_BYTES / 4 && after < RING_BYTES / 4)
				refused_with_room++;
			if (after > worst_backlog_at_refusal)
				worst_backlog_at_refusal = after;
			continue;
		}
		a_holding = 1;
		p[0] = 0xa;
		p[1] = attempts;
		hl_ring_commit(ring, p);
		a_holding = 0;
		/* a modest rate: the consumer keeps the ring nearly empty */
		for (uint64_t i = t_range(&rng, 0, 8); i > 0; i--)
			atomic_signal_fence(memory_order_seq_cst);
	}
	return NULL;
}

static void *producer_b(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		for (int i = 0; i < 32; i++) {
			uint64_t *p = hl_ring_reserve(ring, 16, 1); /* never blocks the shutdown */
			if (!p)
				continue;
			p[0] = 0xb;
			hl_ring_commit(ring, p);
		}
		t_sleep_us(20);
	}
	return NULL;
}

int main(void)
{
	t_watchdog(30);
	ring = hl_ring_create(RING_BYTES);
	if (!ring)
		return T_EXIT_FAIL;

	struct sigaction sa = {.sa_handler = on_tick, .sa_flags = SA_RESTART};
	sigaction(SIGUSR1, &sa, NULL);

	pthread_t ta, tb;
	pthread_create(&ta, NULL, producer_a, NULL);
	pthread_create(&tb, NULL, producer_b, NULL);
	while (!atomic_load(&a_tid))
		sched_yield();

	/* A timer aimed at A's thread alone; SIGUSR1 does not queue, so
	 * ticks that land during a stall merge instead of piling up. */
	timer_t timer;
	struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR1};
	sev._sigev_un._tid = atomic_load(&a_tid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer)) {
		perror("timer_create");
		atomic_store(&stop, 1);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		return T_EXIT_SKIP;
	}
	struct itimerspec its = {{0, 500000}, {0, 500000}};
	timer_settime(timer, 0, &its, NULL);

	uint64_t got = 0;
	double end = now() + RUN_SECONDS;
	while (now() < end) {
		for (int i = 0; i < 1024; i++) {
			size_t len;
			if (hl_ring_peek(ring, &len)) {
				hl_ring_release(ring);
				got++;
			}
		}
	}
	timer_delete(timer);
	atomic_store(&stop, 1);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);

	printf("A: %" PRIu64 " nowait reserves, %" PRIu64 " stalls by signal, %" PRIu64
	       " refused (%" PRIu64 " while the ring was under a quarter full; fullest at a "
	       "refusal: %" PRIu64 " of %u bytes); consumer read %" PRIu64 "\n",
	       (uint64_t)attempts, (uint64_t)stalls, (uint64_t)refused,
	       (uint64_t)refused_with_room, worst_backlog_at_refusal, RING_BYTES, got);
	CHECK(refused_with_room == 0,
	      "%" PRIu64 " nowait reserves refused in a ring with room: a producer interrupted "
	      "between loading prod and loading cons sees pos + pad + len - cons underflow "
	      "(hl_ring_reserve_hint) and returns NULL without reloading prod",
	      (uint64_t)refused_with_room);
	hl_ring_destroy(ring);
	return t_result("ring_nowait_room");
}
