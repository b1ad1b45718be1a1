/* userns.c — a program that enters new user namespaces after it has
 * allocated, as `unshare -U`, bubblewrap and podman do: the kernel grants
 * that only to a single-threaded process.
 *
 * Usage: userns libc|syscall
 *   10 mallocs; unshare(CLONE_NEWUSER) through the C library's wrapper
 *   (libc) or syscall(SYS_unshare, ...) (syscall); 10 mallocs; frees all 20
 *   and prints "userns ok".  Exits 1 with the error if unshare fails (as it
 *   does where user namespaces are not allowed).
 * Expected: "userns ok", exit 0; one trace: allocations 21 (stdout's buffer
 * too), frees 20, bytes_allocated 2000 + stdout's buffer.  (heapline's writer thread made the process
 * multi-threaded: unshare failed with EINVAL, and `unshare -U` with it.)
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *blocks[20];

static void take(int from)
{
	for (int i = from; i < from + 10; i++)
		blocks[i] = malloc(100);
}

int main(int argc, char **argv)
{
	int rc;

	if (argc != 2 || (strcmp(argv[1], "libc") && strcmp(argv[1], "syscall"))) {
		fprintf(stderr, "usage: userns libc|syscall\n");
		return 2;
	}
	take(0);
	if (!strcmp(argv[1], "libc"))
		rc = unshare(CLONE_NEWUSER);
	else
		rc = (int)syscall(SYS_unshare, CLONE_NEWUSER);
	if (rc != 0) {
		fprintf(stderr, "userns: unshare (%s): %s\n", argv[1], strerror(errno));
		return 1;
	}
	take(10);
	for (int i = 0; i < 20; i++)
		free(blocks[i]);
	puts("userns ok");
	return 0;
}
