/* signal_alloc.c — signals arriving while the program is inside malloc and
 * the profiler: the program's handler runs, its behaviour is unchanged, and
 * nothing hangs.  The handler itself only counts (malloc in a handler is
 * undefined behaviour, so it is not exercised here).
 *
 * A 1 kHz interval timer interrupts a loop of 200000 malloc(64)/free pairs.
 * Expected: allocations 200000, frees 200000, leaked 0, unknown_frees 0,
 * exit status 0 and output "ticks\n" (at least one tick was delivered).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

int main(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < 200000; i++) {
		void *volatile p = malloc(64);
		free(p);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	if (!ticks)
		return 2;
	return write(1, "ticks\n", 6) == 6 ? 0 : 1;
}
