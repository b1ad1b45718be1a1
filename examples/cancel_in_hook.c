/* cancel_in_hook.c — a thread with a pthread_cancel pending allocates
 * from a module the process has not allocated from before, then reaches
 * a cancellation point; the main thread then allocates from another new
 * module.
 *
 * malloc is no cancellation point.  Under heapline its hook met the new
 * module and opened its file for the unwind tables: open is one, the
 * cancellation took effect there, inside the hook, with the unwinder's
 * lock held, and the main thread's next new module waited for that lock
 * for ever (with signals blocked: only SIGKILL ended it).
 *
 * Usage: cancel_in_hook LIBCANCELA.so LIBCANCELB.so
 *   dlopen both; a thread spins until told to go; the main thread cancels
 *   it and tells it; the thread calls a's cancel_alloc (malloc(100)), then
 *   pthread_testcancel; the main thread joins it, then calls b's
 *   (malloc(200)).
 * Output: "thread cancelled\n"; exit 0.
 * Expected: among the trace's allocations the 100 and 200 bytes ones,
 * both live at exit.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static _Atomic int go;
static void *(*a_alloc)(void), *(*b_alloc)(void);
static void *volatile sink_a, *volatile sink_b;

static void *thread_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&go))
		; /* no cancellation point */
	sink_a = a_alloc();
	pthread_testcancel(); /* where a plain run is cancelled */
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	void *ha = dlopen(argv[1], RTLD_NOW), *hb = dlopen(argv[2], RTLD_NOW);
	if (!ha || !hb)
		return 2;
	*(void **)&a_alloc = dlsym(ha, "cancel_alloc");
	*(void **)&b_alloc = dlsym(hb, "cancel_alloc");
	if (!a_alloc || !b_alloc)
		return 2;
	pthread_t t;
	void *r;
	if (pthread_create(&t, NULL, thread_main, NULL) || pthread_cancel(t))
		return 1;
	atomic_store(&go, 1);
	if (pthread_join(t, &r))
		return 1;
	sink_b = b_alloc();
	const char *msg = r == PTHREAD_CANCELED ? "thread cancelled\n" : "thread returned\n";
	fputs(msg, stdout);
	return 0;
}
