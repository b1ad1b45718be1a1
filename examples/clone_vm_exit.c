/* clone_vm_exit.c — a child made by clone(CLONE_VM | CLONE_VFORK |
 * CLONE_SETTLS) with a thread pointer of its own over zeroed memory, which
 * runs on its parent's memory, then _exit()s or execs, as Chromium's
 * sandbox launcher does (its thread pointer is a zeroed buffer on the
 * parent's stack, so a write to thread-local storage lands in the parent's
 * stack) before its parent checks how the child ended.  Here the memory
 * below the thread pointer, where thread-local variables live, is
 * read-only: any such write kills the child.
 *
 * Usage: clone_vm_exit exit|exec
 *   exit: the child calls _exit(7); exec: execv("/bin/sh", "sh -c 'exit 7'").
 *   The parent waits and prints "child exited 7", or what happened instead.
 * Expected: stdout "child exited 7\n", exit status 0; allocations 1 (the
 * child's stack), frees 1.  (heapline's _exit and exec wrappers used to
 * read errno through the thread pointer first: the child died of SIGSEGV,
 * and Chromium's zygote failed its CHECK.)
 */
#define _GNU_SOURCE 1
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK (256 * 1024)
#define BELOW (64 * 1024) /* read-only, under the thread pointer */

static int use_exec;

static int child(void *arg)
{
	(void)arg;
	if (use_exec) {
		char *argv[] = {"sh", "-c", "exit 7", NULL};
		execv("/bin/sh", argv);
	}
	_exit(7);
}

int main(int argc, char **argv)
{
	char *stack, *tls;
	int status = 0;
	pid_t pid;

	if (argc != 2 || (strcmp(argv[1], "exit") && strcmp(argv[1], "exec"))) {
		fprintf(stderr, "usage: clone_vm_exit exit|exec\n");
		return 2;
	}
	use_exec = !strcmp(argv[1], "exec");
	stack = malloc(STACK);
	tls = mmap(NULL, BELOW + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!stack || tls == MAP_FAILED || mprotect(tls, BELOW, PROT_READ))
		return 1;
	pid = clone(child, stack + STACK, CLONE_VM | CLONE_VFORK | CLONE_SETTLS | SIGCHLD, NULL,
		    NULL, tls + BELOW, NULL);
	if (pid < 0) {
		perror("clone");
		return 1;
	}
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	free(stack);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 7) {
		printf("child exited 7\n");
		return 0;
	}
	printf("child: %s %d\n", WIFSIGNALED(status) ? "killed by signal" : "exited",
	       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	return 1;
}
