/* stack_query.c — a thread asks glibc for its own stack before it has
 * allocated anything, as Rust's standard library, the JVM and others do at
 * the start of every thread: pthread_getattr_np(pthread_self()) allocates
 * (a cpu set; in the main thread also fopen of /proc/self/maps) while it
 * holds the thread's own lock.  A profiler that asks the same question from
 * inside that allocation waits on the lock forever.
 *
 * Usage: stack_query [THREADS]   (default 3)
 *   main and each of THREADS threads: pthread_getattr_np on itself first,
 *   then malloc(1000 * (i + 1)) and free it (main is i = 0).
 * Exact expected numbers: none of its own beyond what glibc allocates in
 * pthread_getattr_np, which depends on the glibc; the end-to-end test
 * compares allocations and bytes with valgrind's, and expects exit status
 * 0, output "stack_query\n", end "exit" and every block freed but the
 * threads' DTVs (glibc's, freed when their stacks are reused).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile sink;

static void *query(void *arg)
{
	size_t i = (size_t)(uintptr_t)arg;
	pthread_attr_t a;
	void *addr;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &a) != 0 ||
	    pthread_attr_getstack(&a, &addr, &size) != 0)
		abort();
	pthread_attr_destroy(&a);
	/* The answer is this very stack. */
	char here;
	if ((uintptr_t)&here < (uintptr_t)addr || (uintptr_t)&here >= (uintptr_t)addr + size)
		abort();
	sink = malloc(1000 * (i + 1));
	free(sink);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)atoi(argv[1]) : 3;
	query(NULL);
	for (size_t i = 1; i <= n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, query, (void *)(uintptr_t)i) != 0 ||
		    pthread_join(t, NULL) != 0)
			return 1;
	}
	if (write(1, "stack_query\n", 12) != 12)
		return 1;
	return 0;
}
