/* crasher.c — programs that die of a signal no heapline hook sees coming,
 * within their first milliseconds (heapline writes a block every 50 ms):
 *   double-free  frees a block twice: glibc aborts from inside free
 *                (SIGABRT through no interposable call).  Trace: 101
 *                allocations, 102 frees (1 unknown: the second), END
 *                "crash" with signal 6; exit status 134.
 *   segv         writes through a null pointer.  Trace: 101 allocations,
 *                100 frees, 64 bytes leaked in 1 block, END "crash" with
 *                signal 11; exit status 139.
 *   thread-segv  two threads allocate and free without end while a third
 *                writes through a null pointer 20 ms in.  Trace: END
 *                "crash" with signal 11, nothing lost, at most 6 blocks
 *                live (the kept one, 3 threads' TLS vectors, 2 churners'
 *                blocks in flight); exit status 139.
 *   sigkill      SIGKILL to itself by a raw system call: nothing can see
 *                it, no trace; heapline run says so; exit status 137.
 *   own-handler  sees the default action on SIGSEGV, SIGABRT, SIGBUS and
 *                SIGFPE (sigaction, signal, sigset, sysv_signal), as
 *                without heapline (whose crash handler is invisible),
 *                installs its own SIGSEGV handler, faults, recovers with
 *                siglongjmp, prints "recovered" and exits 0.
 * Before each: one 64-byte block kept, 100 malloc/free pairs of 1..100
 * bytes. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char *volatile sink;
static sigjmp_buf back;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(back, 1);
}

static void *churn(void *arg)
{
	for (size_t n = 16 + (size_t)(uintptr_t)arg;; n = n % 4000 + 16)
		free(malloc(n));
	return NULL;
}

static void *fault(void *arg)
{
	(void)arg;
	usleep(20000);
	*(volatile char *)(uintptr_t)sink = 1; /* sink is NULL by now */
	return NULL;
}

static int thread_segv(void)
{
	pthread_t t[3];
	sink = NULL;
	if (pthread_create(&t[0], NULL, churn, (void *)(uintptr_t)1) ||
	    pthread_create(&t[1], NULL, churn, (void *)(uintptr_t)2) ||
	    pthread_create(&t[2], NULL, fault, NULL))
		return 1;
	pthread_join(t[2], NULL);
	return 1; /* not reached */
}

/* sigset is obsolete, and still in programs */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static int own_handler(void)
{
	struct sigaction old;
	if (sigaction(SIGSEGV, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
	    old.sa_handler != SIG_DFL) {
		puts("SIGSEGV is not at its default action");
		return 1;
	}
	if (signal(SIGABRT, SIG_DFL) != SIG_DFL || sigset(SIGBUS, SIG_DFL) != SIG_DFL ||
	    sysv_signal(SIGFPE, SIG_DFL) != SIG_DFL) {
		puts("SIGABRT, SIGBUS or SIGFPE is not at its default action");
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	if (sigaction(SIGSEGV, &sa, NULL) != 0)
		return 1;
	if (sigsetjmp(back, 1) == 0) {
		sink = NULL;
		*sink = 1;
		puts("no fault");
		return 1;
	}
	if (sigaction(SIGSEGV, NULL, &old) != 0 || old.sa_handler != on_segv) {
		puts("our handler is not in place");
		return 1;
	}
	puts("recovered");
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	char *keep = malloc(64);
	sink = keep;
	for (int i = 0; i < 100; i++)
		free(malloc((size_t)i + 1));
	if (!strcmp(mode, "double-free")) {
		free(keep);
		free(sink); /* keep, again */
	} else if (!strcmp(mode, "segv")) {
		sink = NULL;
		*sink = 1;
	} else if (!strcmp(mode, "thread-segv")) {
		return thread_segv();
	} else if (!strcmp(mode, "sigkill")) {
		syscall(SYS_kill, getpid(), SIGKILL);
	} else if (!strcmp(mode, "own-handler")) {
		return own_handler();
	}
	return 0;
}
