/* raw_clone.c — children made without fork(): a raw clone system call and
 * glibc's _Fork(), neither of which runs the atfork handlers.  Such a
 * child has a copy of the profiler's state and no writer thread; it must
 * not wait for one (it used to hang once its copy of the ring was full).
 *
 * Usage: raw_clone
 *   1000 malloc(100)/free pairs; then a child by clone(SIGCHLD) and one by
 *   _Fork(), each making 300000 pairs (several times what the ring holds)
 *   and leaving with exit_group(0); the parent waits for each.
 * Output: "raw_clone\n".  Expected: one trace, the parent's: 1000
 * allocations (the children are not profiled), exit status 0.
 */
#define _GNU_SOURCE 1
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

static void pairs(int n)
{
	for (int i = 0; i < n; i++) {
		sink = malloc(100 + (size_t)(i % 7));
		free(sink);
	}
}

static int child_done(pid_t pid)
{
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
	pairs(1000);
	long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		pairs(300000);
		syscall(SYS_exit_group, 0);
	}
	if (!child_done((pid_t)pid))
		return 1;
	pid_t p2 = _Fork();
	if (p2 == 0) {
		pairs(300000);
		syscall(SYS_exit_group, 0);
	}
	if (!child_done(p2))
		return 1;
	return write(1, "raw_clone\n", 10) == 10 ? 0 : 1;
}
