/* single_threaded.c — a program that must be single-threaded until it
 * allocates, as Chromium's zygote is (it forks its renderers and checks
 * first; its allocator is its own, so heapline sees none of it).
 *
 * Usage: single_threaded
 *   Reads its thread count from /proc/self/status with open/read/write only
 *   (no allocation: stdio would make one), and exits 3 if it is not 1;
 *   then mallocs 10 blocks of 100 bytes, frees them, and exits 0.
 * Expected: exit status 0; allocations 10, frees 10, nothing leaked.
 * (heapline used to start its writer thread in its constructor: this
 * program saw 2 threads and exited 3; Chromium died of a failed CHECK.)
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int threads(void)
{
	static char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	const char *t;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	t = strstr(buf, "\nThreads:");
	return t ? atoi(t + 9) : -1;
}

int main(void)
{
	void *p[10];

	if (threads() != 1) {
		static const char msg[] = "single_threaded: not single-threaded\n";
		(void)!write(2, msg, sizeof(msg) - 1);
		return 3;
	}
	for (int i = 0; i < 10; i++)
		p[i] = malloc(100);
	for (int i = 0; i < 10; i++)
		free(p[i]);
	return 0;
}
