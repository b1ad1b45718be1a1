/* self_signal.c — a program that ends by sending itself a signal with its
 * default action, as programs do after cleaning up on SIGINT or SIGTERM so
 * that their parent sees the signal (python after a KeyboardInterrupt,
 * bash, make, sort).
 *
 * The process dies without exit: heapline's trace used to end with no END
 * record and without its last ~50 ms of events (for python, the frees of
 * its whole finalization).  Now it ends with END "signal" and the number.
 *
 * Usage: self_signal MODE
 *   kill     100 malloc(100); 60 freed; kill(getpid(), SIGTERM)
 *   raise    the same; raise(SIGINT)
 *   handled  a SIGUSR1 handler is installed; kill(getpid(), SIGUSR1) runs
 *            it and the program goes on: 100 more malloc/free pairs, then
 *            a normal exit
 * Output: "handled\n" in mode handled, else nothing.
 * Expected: kill: 100 allocations, 60 frees, 40 blocks (4000 bytes) live,
 * END signal 15, exit status 128+15 from `heapline run`; raise: the same
 * with signal 2; handled: 200 allocations, 160 frees, END exit, status 0.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *blocks[100];
static volatile sig_atomic_t got;

static void on_usr1(int sig)
{
	(void)sig;
	got = 1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	for (int i = 0; i < 100; i++)
		blocks[i] = malloc(100);
	for (int i = 0; i < 60; i++)
		free(blocks[i]);
	if (!strcmp(mode, "kill")) {
		signal(SIGTERM, SIG_DFL);
		kill(getpid(), SIGTERM);
	} else if (!strcmp(mode, "raise")) {
		signal(SIGINT, SIG_DFL);
		raise(SIGINT);
	} else if (!strcmp(mode, "handled")) {
		signal(SIGUSR1, on_usr1);
		kill(getpid(), SIGUSR1);
		for (int i = 0; i < 100; i++) {
			void *p = malloc(50);
			free(p);
		}
		if (got && write(1, "handled\n", 8) == 8)
			return 0;
	}
	return 1;
}
