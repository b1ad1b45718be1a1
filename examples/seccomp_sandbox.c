/* seccomp_sandbox.c — a program that puts itself in a seccomp sandbox
 * which kills it on open(2) and openat(2), as a browser's renderer or a
 * sandboxed server does, then goes on allocating and forks a worker.
 *
 * heapline's writer opened /proc/self/statm every 10 ms and created the
 * trace file at its first block; with the filter applied to every thread
 * (SECCOMP_FILTER_FLAG_TSYNC) that killed the process with SIGSYS, with no
 * trace.  A fork child's writer, created under the filter, died the same
 * way trying to create the child's trace.
 *
 * Usage: seccomp_sandbox MODE
 *   tsync   the filter by the seccomp system call, for every thread
 *   prctl   the filter by prctl(PR_SET_SECCOMP), for this thread
 *   strict  no filter: a thread allocates a block, goes into strict mode
 *           (read, write and _exit only), frees it, allocates another and
 *           leaves by _exit
 * tsync and prctl: 100 malloc/free pairs; the filter; 2000 pairs with a
 * 2 ms sleep every 100 (the writer's clock runs); a fork child makes 10
 * pairs and _exits 0; the parent waits for it.  strict: 100 pairs, the
 * thread, 2000 pairs.
 * Output: "sandbox MODE: child exit 0\n" (strict: "strict ok\n" from the
 * thread, then "sandbox strict: done\n").
 * Expected: the parent's trace, 2100 allocations and 2100 frees (strict:
 * plus the thread's first malloc and what glibc allocates for a thread;
 * nothing once the thread is strict); the child is not profiled (it could
 * not create a trace).
 */
#define _GNU_SOURCE 1
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

static void pairs(int n, int sleep_every)
{
	for (int i = 0; i < n; i++) {
		sink = malloc(100 + (size_t)(i % 64));
		free(sink);
		if (sleep_every && i % sleep_every == 0)
			usleep(2000);
	}
}

static void say(const char *s)
{
	(void)!write(1, s, strlen(s));
}

static int install(int tsync)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	if (tsync)
		return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				    SECCOMP_FILTER_FLAG_TSYNC, &prog);
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* Strict mode: no system call but read, write, _exit and sigreturn. */
static void *strict_thread(void *arg)
{
	void *p = malloc(64); /* before: recorded */
	(void)arg;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0))
		return NULL;
	free(p); /* from a chunk glibc has: no system call */
	sink = malloc(64);
	say("strict ok\n");
	syscall(SYS_exit, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int tsync = !strcmp(mode, "tsync");
	if (!tsync && strcmp(mode, "prctl") && strcmp(mode, "strict")) {
		say("usage: seccomp_sandbox tsync|prctl|strict\n");
		return 2;
	}
	pairs(100, 0);
	if (!strcmp(mode, "strict")) {
		pthread_t t;
		if (pthread_create(&t, NULL, strict_thread, NULL) || pthread_join(t, NULL))
			return 1;
		pairs(2000, 100);
		say("sandbox strict: done\n");
		return 0;
	}
	if (install(tsync)) {
		perror("seccomp");
		return 1;
	}
	pairs(2000, 100);
	pid_t pid = fork();
	if (pid == 0) {
		pairs(10, 0);
		_exit(0);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 1;
	char line[80];
	if (WIFEXITED(st))
		snprintf(line, sizeof(line), "sandbox %s: child exit %d\n", mode, WEXITSTATUS(st));
	else
		snprintf(line, sizeof(line), "sandbox %s: child killed by signal %d\n", mode,
			 WTERMSIG(st));
	say(line);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
