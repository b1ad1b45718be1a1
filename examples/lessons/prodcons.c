/* prodcons.c — lesson: memory allocated on one thread and freed on another.
 * A heap profiler must follow a block across threads: heapline records the
 * allocation with the producer's stack and the free with the consumer's, so
 * the line tables put the bytes on the producer's malloc line, the frees on
 * the consumer's free line, and the two cancel: nothing of ours leaks.
 *
 * A bounded queue of QCAP = 16 slots is passed in whole batches: the
 * producer waits until it is empty, mallocs 16 blocks of 1024 bytes into it
 * and marks it full; the consumer waits until it is full, checks and frees
 * the 16 blocks and marks it empty.  64 batches: 1024 blocks.  Handing over
 * whole batches makes the interleaving, and so every number, deterministic:
 * the producer allocates only while the consumer waits, and back.
 *
 * The base is glibc's, not ours: pthread_create callocs one dynamic thread
 * vector (DTV) per new thread stack and keeps it with the cached stack after
 * the join, so main's two pthread_create lines each show +D and the process
 * ends with those two blocks live.  D = (TLS modules + 16) * 16 bytes
 * (glibc 2.36, x86-64): 336 with this program's five TLS modules (libc,
 * libheapline and its libunwind, libdw, libelf), so 2D = 672 is live throughout the work.
 *
 * Exact expected numbers (tests/lessons/expected/prodcons.txt):
 *   producer's malloc line: 1024 allocations, +1048576, 0 frees, 0 leaked,
 *     Mem usage 2D + 16 * 1024 = 672 + 16384 = 17056 (the 16th of a batch).
 *   consumer's free line: 1024 frees, -1048576, Mem usage 2D + 15 * 1024 =
 *     16032 (after the first free of a batch).
 *   main: each pthread_create line +D (live 336, then 672: the consumer
 *     is created first and only waits, so no block exists yet); the
 *     pthread_join lines nothing: the work runs on the threads.
 *   allocations 1026, frees 1024, bytes_allocated 1048576 + 672 = 1049248,
 *   peak_bytes 17056, leaked_bytes 672 in 2 blocks: glibc's two DTVs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QCAP	16
#define BATCHES 64
#define BLOCK	1024

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int full; /* 1: the consumer owns slot[], 0: the producer does */
	unsigned char *slot[QCAP];
} q = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .changed = PTHREAD_COND_INITIALIZER,
};

static unsigned long checked;

/* Waits until q.full == want: the caller then owns q.slot. */
static void wait_for(int want)
{
	pthread_mutex_lock(&q.lock);
	while (q.full != want)
		pthread_cond_wait(&q.changed, &q.lock);
	pthread_mutex_unlock(&q.lock);
}

/* Hands q.slot to the other thread. */
static void hand_over(int full)
{
	pthread_mutex_lock(&q.lock);
	q.full = full;
	pthread_cond_signal(&q.changed);
	pthread_mutex_unlock(&q.lock);
}

static void *producer(void *arg)
{
	for (int b = 0; b < BATCHES; b++) {
		wait_for(0);
		for (int j = 0; j < QCAP; j++) {
			unsigned char *blk = malloc(BLOCK);
			if (!blk)
				abort();
			memset(blk, b * QCAP + j, BLOCK);
			q.slot[j] = blk;
		}
		hand_over(1);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	for (int b = 0; b < BATCHES; b++) {
		wait_for(1);
		for (int j = 0; j < QCAP; j++) {
			unsigned char *blk = q.slot[j];
			if (blk[0] != (unsigned char)(b * QCAP + j))
				abort();
			checked += BLOCK;
			free(blk);
		}
		hand_over(0);
	}
	return NULL;
}

int main(void)
{
	pthread_t prod, cons;
	char msg[64];

	/* The consumer first: it only waits, so both DTVs are allocated
	 * before the producer's first block, whatever the scheduler does. */
	if (pthread_create(&cons, NULL, consumer, NULL))
		return 1;
	if (pthread_create(&prod, NULL, producer, NULL))
		return 1;
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	int n = snprintf(msg, sizeof msg, "%lu bytes passed\n", checked);
	return write(1, msg, (size_t)n) == n ? 0 : 1;
}
