/* read_whole.c — lesson: reading a file whole costs memory in proportion to
 * the file, and a naive growing buffer costs up to twice that.  Compare
 * read_stream.c, which computes the same checksum through a fixed 64 KiB
 * buffer: its peak does not depend on the file at all.
 *
 * Usage: read_whole FILE   (prints the byte count and a checksum)
 * The buffer starts at 4096 bytes and doubles with realloc whenever it is
 * full and the file may hold more, as a naive reader does: it cannot know
 * the file ended until read() returns 0, so a file of exactly 4 MiB fills
 * the 4 MiB buffer and makes it double once more, to 8 MiB, before that.
 * heapline counts a realloc as the release of the old block, then the
 * allocation of the new one (docs/trace-format.md), so the old block does
 * not add to the peak.
 *
 * Exact expected numbers for a 4 MiB (4194304-byte) FILE
 * (tests/lessons/expected/read_file.txt):
 *   malloc(4096): +4096, 1 call, live 4096.
 *   realloc line: 11 reallocs, to 2^13 .. 2^23 bytes, each 1 free + 1
 *     allocation: 22 calls, Increment = (2^13 + .. + 2^23) - (2^12 + .. +
 *     2^22) = 2^23 - 2^12 = 8384512, Mem usage 8388608 (the last one).
 *   free(buf): -8388608, 1 call, live 0.
 *   allocations 12, frees 12, bytes_allocated 4096 + (2^24 - 2^13) =
 *   16773120, peak_bytes 8388608 (twice the file), leaked 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned long checksum(const unsigned char *p, size_t n, unsigned long sum)
{
	for (size_t i = 0; i < n; i++)
		sum = sum * 31 + p[i];
	return sum;
}

static unsigned long read_whole(int fd, size_t *total)
{
	size_t cap = 4096, len = 0;
	unsigned char *buf = malloc(cap);
	if (!buf)
		abort();
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0)
			abort();
		if (n == 0)
			break;
		len += (size_t)n;
	}
	unsigned long sum = checksum(buf, len, 0);
	free(buf);
	*total = len;
	return sum;
}

int main(int argc, char **argv)
{
	char msg[64];
	size_t total;
	int fd;

	if (argc != 2 || (fd = open(argv[1], O_RDONLY)) < 0)
		return 2;
	unsigned long sum = read_whole(fd, &total);
	close(fd);
	int n = snprintf(msg, sizeof msg, "%zu bytes, checksum %016lx\n", total, sum);
	return write(1, msg, (size_t)n) == n ? 0 : 1;
}
