/* Blocks held only by thread-local variables: the main thread's (500
 * bytes) and a blocked second thread's (600 bytes), both still reachable
 * through static TLS. */
#include <pthread.h>
#include <unistd.h>

#include "leak_common.h"

static __thread void *volatile tls_block;
static pthread_barrier_t ready;

static NOINLINE void *worker(void *arg)
{
	(void)arg;
	tls_block = alloc(600);
	pthread_barrier_wait(&ready);
	for (;;)
		pause();
	return NULL;
}

static NOINLINE void keep_in_tls(void)
{
	tls_block = alloc(500);
}

int main(void)
{
	pthread_t t;
	pthread_barrier_init(&ready, NULL, 2);
	keep_in_tls();
	pthread_create(&t, NULL, worker, NULL);
	pthread_barrier_wait(&ready);
	return 0;
}
