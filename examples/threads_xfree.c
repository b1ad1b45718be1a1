/* threads_xfree.c — blocks allocated on one thread and freed on another,
 * while a third thread allocates the same sizes, so that an address freed by
 * one thread is handed out again to another at once.  heapline writes a
 * free's record before the real free and an allocation's after the real
 * allocator returns (docs/trace-format.md "Replay semantics"); if it did
 * not, the trace would show an address allocated twice or freed unknown.
 *
 * Usage: threads_xfree N M
 *   producer: N blocks, block i of size 16 + 8 * (i % 8), each passed
 *             through a lock-protected queue to
 *   consumer: which frees them;
 *   churner:  M blocks of the same size sequence, each freed at once.
 * All threads share one malloc arena (M_ARENA_MAX 1) so reuse crosses threads.
 *
 * Exact expected numbers, over the run "threads_xfree 0 0" (the base):
 *   allocations = base + N + M, frees = base + N + M
 *   bytes_allocated = base + S(N) + S(M), S(n) = sum over i < n of 16 + 8 * (i % 8)
 *   leaked = base's, unknown_frees 0, end "exit", exit status 0
 * The base is glibc's, not ours: pthread_create callocs one dynamic thread
 * vector (DTV) per new thread stack and keeps it with the cached stack, so
 * it shows as 3 allocations, 0 frees, 3 leaked blocks (the threads meet at
 * a barrier, so three stacks exist).  Its size depends on the number of
 * TLS modules loaded (the profiler's included).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QCAP 1024

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	void *slot[QCAP];
	unsigned head, tail; /* head - tail = items queued */
} q = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.not_empty = PTHREAD_COND_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER,
};

static pthread_barrier_t start;
static long n_produce, n_churn;

static size_t size_of(long i)
{
	return 16 + 8 * (size_t)(i % 8);
}

static void push(void *p)
{
	pthread_mutex_lock(&q.lock);
	while (q.head - q.tail == QCAP)
		pthread_cond_wait(&q.not_full, &q.lock);
	q.slot[q.head++ % QCAP] = p;
	pthread_cond_signal(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
}

static void *pop(void)
{
	pthread_mutex_lock(&q.lock);
	while (q.head == q.tail)
		pthread_cond_wait(&q.not_empty, &q.lock);
	void *p = q.slot[q.tail++ % QCAP];
	pthread_cond_signal(&q.not_full);
	pthread_mutex_unlock(&q.lock);
	return p;
}

static void *producer(void *arg)
{
	pthread_barrier_wait(&start);
	for (long i = 0; i < n_produce; i++) {
		char *p = malloc(size_of(i));
		if (!p)
			abort();
		memset(p, (int)i, size_of(i));
		push(p);
	}
	push(NULL); /* done */
	return NULL;
}

static void *consumer(void *arg)
{
	pthread_barrier_wait(&start);
	void *p;
	while ((p = pop()))
		free(p);
	return NULL;
}

static void *churner(void *arg)
{
	pthread_barrier_wait(&start);
	for (long i = 0; i < n_churn; i++) {
		char *volatile p = malloc(size_of(i));
		if (!p)
			abort();
		p[0] = 1;
		free(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[3];
	void *(*fn[3])(void *) = { producer, consumer, churner };

	if (argc != 3)
		return 2;
	n_produce = atol(argv[1]);
	n_churn = atol(argv[2]);
	mallopt(M_ARENA_MAX, 1);
	pthread_barrier_init(&start, NULL, 3);
	for (int i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, fn[i], NULL))
			return 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	return write(1, "threads_xfree done\n", 19) == 19 ? 0 : 1;
}
