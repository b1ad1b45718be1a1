/* exec_in_handler.c — a program that execs from a signal handler (as a
 * server re-executing itself on SIGHUP does; execve is async-signal-safe)
 * while its only thread is busy allocating, so the signal often lands
 * inside the profiler's hook, with a record reserved in the ring and not
 * yet committed: that record cannot be committed before the handler
 * returns, which a successful exec never does.
 *
 * Usage: exec_in_handler [fail]
 *   100 malloc/free pairs (the trace has begun), then pairs until SIGALRM,
 *   20 ms (plus a few µs from the pid) after that; the handler execs this
 *   program again as `exec_in_handler done T` (T: when the exec call began),
 *   which prints "done MS", MS the milliseconds the exec took, and exits 0.
 *   With `fail`, the handler execs a path that does not exist; the exec
 *   fails and the handler returns (into the hook, if that is where it
 *   landed); the loop stops and prints how many pairs it ran and the
 *   milliseconds the failed exec took.
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
#include <time.h>
#include <unistd.h>

static void *volatile sink;
static volatile sig_atomic_t stop;
static char *self;
static int fail;
static long long exec_ms;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Decimal, without stdio (the handler may have interrupted malloc). */
static void put_ll(char *out, long long v)
{
	char tmp[24];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (n)
		*out++ = tmp[--n];
	*out = '\0';
}

static void on_alarm(int sig)
{
	(void)sig;
	char t0[24];
	long long start = now_ns();
	put_ll(t0, start);
	char *argv[] = {self, "done", t0, NULL};
	execv(fail ? "/nonexistent/exec_in_handler" : self, argv);
	exec_ms = (now_ns() - start) / 1000000;
	stop = 1; /* the exec failed: back to the loop (or the hook) */
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "done")) {
		printf("done %lld\n", (now_ns() - atoll(argv[2])) / 1000000);
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
	printf("%lu %lld\n", pairs, exec_ms);
	return 0;
}
