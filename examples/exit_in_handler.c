/* exit_in_handler.c — a program that ends from a signal handler (as a
 * Ctrl-C handler calling exit does) while its only thread is busy
 * allocating, so the signal often lands inside the profiler's hook, with a
 * record reserved in the ring and not yet committed.
 *
 * Usage: exit_in_handler
 *   malloc/free pairs until SIGALRM, 20 ms (plus a few µs from the pid)
 *   after start; the handler calls exit(0).
 * Expected: exit status 0; a trace that ends with END "exit", written
 * within the usual time (the writer used to wait a second for the record
 * and then leave the trace without an END).  How many pairs ran depends on
 * timing; the interrupted one may be missing.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

static void *volatile sink;

static void on_alarm(int sig)
{
	(void)sig;
	exit(0);
}

int main(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 20000 + (getpid() % 50) * 7}};
	setitimer(ITIMER_REAL, &it, NULL);
	for (unsigned i = 0;; i++) {
		sink = malloc(16 + i % 200);
		free(sink);
	}
}
