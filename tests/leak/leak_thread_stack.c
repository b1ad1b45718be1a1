/* A 400-byte block held only in a local of another thread, which is still
 * blocked when main returns: still reachable.  (glibc's DTV for that
 * thread, 272 bytes here, is possibly lost for memcheck and for us: the
 * thread descriptor points one word into it.) */
#include <pthread.h>
#include <unistd.h>

#include "leak_common.h"

static pthread_barrier_t ready;

static NOINLINE void *holder(void *arg)
{
	void *volatile held = alloc(400);
	(void)arg;
	pthread_barrier_wait(&ready);
	for (;;)
		pause(); /* ended by exit */
	return held;
}

int main(void)
{
	pthread_t t;
	pthread_barrier_init(&ready, NULL, 2);
	pthread_create(&t, NULL, holder, NULL);
	pthread_barrier_wait(&ready);
	return 0;
}
