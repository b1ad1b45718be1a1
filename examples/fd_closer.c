/* fd_closer.c — a program that closes every descriptor it did not open (as
 * daemons do) in the middle of its run, then opens files of its own, which
 * take the freed numbers, the trace's among them.  The profiler must neither
 * write into those files nor lose the rest of its trace.
 *
 * Usage: fd_closer DIR
 *   50000 malloc(100)/free pairs; sleeps 120 ms (heapline writes its first
 *   block, so the trace file is open); closes descriptors 3..1023; opens
 *   DIR/fd_closer.K.out for K = 0..7 and writes "abcdefghij" to each
 *   every 1000 of 200000 more pairs; sleeps 120 ms (past a trace block);
 *   50000 more pairs; closes its files.
 * Exact expected numbers: allocations = frees = 300000, bytes_allocated =
 * 50000 * 100 * 2 + the sum over i < 200000 of (100 + i % 50) = 34900000,
 * nothing leaked, end "exit", exit status 0, output "fd_closer\n"; each
 * file holds 200 times "abcdefghij" (2000 bytes), nothing else.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;

static void pairs(int n)
{
	for (int i = 0; i < n; i++) {
		sink = malloc(100);
		free(sink);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct timespec ts = {0, 120 * 1000 * 1000};
	pairs(50000);
	nanosleep(&ts, NULL); /* a trace block is written: its file is open */
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	int fds[8];
	for (int k = 0; k < 8; k++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/fd_closer.%d.out", argv[1], k);
		fds[k] = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fds[k] < 0)
			return 1;
	}
	for (int i = 0; i < 200000; i += 1000) {
		for (int j = i; j < i + 1000; j++) {
			sink = malloc(100 + (size_t)(j % 50));
			free(sink);
		}
		for (int k = 0; k < 8; k++)
			if (write(fds[k], "abcdefghij", 10) != 10)
				return 1;
	}
	nanosleep(&ts, NULL);
	pairs(50000);
	for (int k = 0; k < 8; k++)
		close(fds[k]);
	if (write(1, "fd_closer\n", 10) != 10)
		return 1;
	return 0;
}
