/* exec_in_handler.c — a program that execs from a signal handler (as a
 * server re-executing itself on SIGHUP does; execve is async-signal-safe)
 * while its only thread is busy allocating, so the signal often lands
 * inside the profiler's hook, with a record reserved in the ring and not
 * yet committed: that record cannot be committed before the handler
 * returns, which a successful exec never does.
 *
 * Usage: exec_in_handler [fail]
 *   100 malloc/free pairs (the trace has begun), then pairs until SIGALRM,
 *   20 ms (plus a few µs from the pid) after that; the handler execs this program again as
 *   `exec_in_handler done`, which prints "done" and exits 0.
 *   With `fail`, the handler execs a path that does not exist; the exec
 *   fails and the handler returns (into the hook, if that is where it
 *   landed); the loop stops and prints how many pairs it ran.
 * Expected: exit status 0.  The first image's trace ends with END "exec",
 * written at once (the writer used to wait a second for the stuck record).
 * With `fail`: one trace, allocations = pairs + 101 (stdout's buffer), frees
 * = pairs + 100, no event lost; it has END "exec", then the events after it and
 * END "exit".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void *volatile sink;
static volatile sig_atomic_t stop;
static char *self;
static int fail;

static void on_alarm(int sig)
{
	(void)sig;
	char *argv[] = {self, "done", NULL};
	execv(fail ? "/nonexistent/exec_in_handler" : self, argv);
	stop = 1; /* the exec failed: back to the loop (or the hook) */
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "done")) {
		puts("done");
		return 0;
	}
	self = argv[0];
	fail = argc > 1 && !strcmp(argv[1], "fail");
	for (int i = 0; i < 100; i++) {
		sink = malloc(32);
		free(sink);
	}
	struct sigaction sa = {0};
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 20000 + (getpid() % 50) * 7}};
	setitimer(ITIMER_REAL, &it, NULL);
	unsigned long pairs = 0;
	while (!stop) {
		sink = malloc(16 + pairs % 200);
		free(sink);
		pairs++;
	}
	printf("%lu\n", pairs);
	return 0;
}
