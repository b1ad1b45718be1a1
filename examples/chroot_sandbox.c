/* chroot_sandbox.c — a server's unprivileged child, as OpenSSH's pre-auth
 * one: it chroots into an empty directory, drops to nobody, then installs
 * a seccomp filter that kills it on any system call a sandbox has no use
 * for, and goes on allocating through code it has not run before.
 *
 * The profiler reads each module's unwind tables from its file the first
 * time a return address in it needs a rule.  After the chroot the paths no
 * longer resolve; heapline then left those stacks to libunwind, which
 * checks addresses with mincore(2), and the filter killed the process with
 * SIGSYS (sshd under heapline refused every login).
 *
 * Usage: chroot_sandbox DIR   (as root; DIR empty)
 *   10 malloc(100)/free pairs; fork; the child chroots to DIR, drops to
 *   uid/gid 65534, forbids mincore and msync (SIGSYS), then runs
 *   qsort over 1000 strdup'ed strings (libc code not run before) and frees
 *   them; the parent waits.
 * Output: "sandbox ok\n" from the parent if the child exited 0; else
 * "sandbox: child killed by signal N" and exit status 1.
 * Expected: the child's trace holds its 1000 allocations and frees.
 */
#define _GNU_SOURCE 1
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* mincore and msync kill the process; everything else is allowed. */
static int forbid(void)
{
	struct sock_filter code[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mincore, 2, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_msync, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static int child(const char *dir)
{
	const gid_t none[1] = {65534};
	if (chroot(dir) || chdir("/") || setgroups(1, none) || setgid(65534) || setuid(65534) ||
	    forbid())
		return 2;
	char *v[1000];
	for (int i = 0; i < 1000; i++) {
		char text[32];
		snprintf(text, sizeof(text), "%d", (i * 7919) % 1000);
		if (!(v[i] = strdup(text)))
			return 3;
	}
	qsort(v, 1000, sizeof(v[0]), by_text);
	for (int i = 0; i < 1000; i++)
		free(v[i]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	for (int i = 0; i < 10; i++) {
		sink = malloc(100);
		free(sink);
	}
	pid_t pid = fork();
	if (pid == 0)
		_exit(child(argv[1]));
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 1;
	/* write(2), not stdio: its buffer would be an allocation of its own */
	char line[64];
	int n = WIFSIGNALED(status)
		    ? snprintf(line, sizeof(line), "sandbox: child killed by signal %d\n",
			       WTERMSIG(status))
		: WEXITSTATUS(status)
		    ? snprintf(line, sizeof(line), "sandbox: child exit status %d\n",
			       WEXITSTATUS(status))
		    : snprintf(line, sizeof(line), "sandbox ok\n");
	if (write(1, line, (size_t)n) != n)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
