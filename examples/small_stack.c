/* small_stack.c — threads that fill their small stacks almost to the end and
 * allocate there.  A profiler's hook runs on the program's stack: whatever
 * it needs beyond what malloc itself needs can overflow a stack the plain
 * program fits in.
 *
 * Usage: small_stack
 *   4 threads with 64 KiB stacks.  Each makes 10 malloc/free pairs near the
 *   top of its stack, 10 more one frame deeper (the rules of those frames
 *   are read there, where there is room), then takes all of its stack but
 *   MARGIN bytes with alloca and makes 10 more from there.
 * Output: "small_stack\n".  Expected: 136 allocations (valgrind's count):
 * the 120 of leaf(), sizes 64..73, all freed; 3 in each pthread_getattr_np
 * (its cpu set), freed; and the 4 thread vectors (DTV) pthread_create
 * allocates, which only glibc's __libc_freeres frees (valgrind runs it):
 * 132 frees, 4 blocks left.
 *
 * MARGIN is 2048 bytes: glibc's malloc needs a few hundred of them; heapline
 * used to need about 3.5 KiB more (a 2 KiB stack buffer in the hook's
 * frame), and its 2 KiB of static TLS came out of every thread's stack.
 */
#include <alloca.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STACK  (64 * 1024)
#define MARGIN 2048

static void *volatile sink;

static __attribute__((noinline)) void leaf(void)
{
	for (int i = 0; i < 10; i++) {
		sink = malloc(64 + (size_t)i);
		free(sink);
	}
}

static __attribute__((noinline)) void consume(size_t n)
{
	char *p = alloca(n);
	memset(p, 0, n);
	sink = p;
	leaf();
}

static void *run(void *arg)
{
	(void)arg;
	pthread_attr_t at;
	void *lo;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &at) || pthread_attr_getstack(&at, &lo, &size))
		return (void *)1;
	pthread_attr_destroy(&at);
	leaf();
	consume(64);
	char here;
	size_t left = (size_t)(&here - (char *)lo);
	if (left < MARGIN + 1024)
		return (void *)1;
	consume(left - MARGIN);
	return NULL;
}

int main(void)
{
	pthread_attr_t at;
	pthread_t t[4];
	pthread_attr_init(&at);
	if (pthread_attr_setstacksize(&at, STACK))
		return 1;
	for (int i = 0; i < 4; i++)
		if (pthread_create(&t[i], &at, run, NULL))
			return 1;
	int bad = 0;
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad |= r != NULL;
	}
	if (bad)
		return 1;
	return write(1, "small_stack\n", 12) == 12 ? 0 : 1;
}
