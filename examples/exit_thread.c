/* exit_thread.c — exit() called from a thread other than main while main
 * is blocked in pthread_join: atexit handlers and destructors (heapline's
 * included) run on that thread; the trace must still be complete.
 *
 * Usage: exit_thread [control]
 *   main:   malloc(1000), kept; starts the thread and joins it (forever)
 *   thread: malloc(2000), calloc(3, 1000), frees the first, exit(0)
 *           (with "control" the thread allocates nothing and just exits)
 * Exact expected numbers, over the "control" run (the base):
 *   allocations = base + 2, frees = base + 1, bytes_allocated = base + 5000,
 *   peak_bytes = base peak + 5000, leaked = base + 3000 bytes in 1 more block,
 *   end "exit", exit status 0, output "exit_thread\n".
 * The base is 2 allocations, 0 frees, 2 leaked blocks: main's 1000 bytes and
 * the dynamic thread vector (DTV) glibc's pthread_create callocs for the new
 * thread (its size depends on the TLS modules loaded).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile sink;
static int control;

static void *thread_main(void *arg)
{
	if (!control) {
		void *a = malloc(2000);
		void *b = calloc(3, 1000);
		sink = a;
		sink = b; /* b leaks */
		free(a);
	}
	if (write(1, "exit_thread\n", 12) != 12)
		exit(1);
	exit(0);
}

int main(int argc, char **argv)
{
	pthread_t t;

	control = argc > 1 && !strcmp(argv[1], "control");
	sink = malloc(1000);
	if (pthread_create(&t, NULL, thread_main, NULL))
		return 1;
	pthread_join(t, NULL); /* never returns: the thread calls exit */
	return 3;
}
