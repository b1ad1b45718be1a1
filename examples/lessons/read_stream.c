/* read_stream.c — lesson: a file processed as a stream needs one buffer of
 * fixed size, whatever the file's size.  Same checksum as read_whole.c, which
 * holds the whole file (and up to twice that) in memory.
 *
 * Usage: read_stream FILE   (prints the byte count and a checksum)
 *
 * Exact expected numbers, for any FILE (tests/lessons/expected/read_file.txt
 * checks them on the same 4 MiB file as read_whole):
 *   malloc(64 KiB): +65536, 1 call, live 65536; the read loop allocates
 *   nothing; free(buf): -65536, 1 call, live 0.
 *   allocations 1, frees 1, bytes_allocated 65536, peak_bytes 65536
 *   (1/64 of a 4 MiB file, 1/128 of read_whole's peak), leaked 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static unsigned long checksum(const unsigned char *p, size_t n, unsigned long sum)
{
	for (size_t i = 0; i < n; i++)
		sum = sum * 31 + p[i];
	return sum;
}

static unsigned long read_stream(int fd, size_t *total)
{
	unsigned long sum = 0;
	size_t len = 0;
	unsigned char *buf = malloc(CHUNK);
	if (!buf)
		abort();
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0)
			abort();
		if (n == 0)
			break;
		sum = checksum(buf, (size_t)n, sum);
		len += (size_t)n;
	}
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
	unsigned long sum = read_stream(fd, &total);
	close(fd);
	int n = snprintf(msg, sizeof msg, "%zu bytes, checksum %016lx\n", total, sum);
	return write(1, msg, (size_t)n) == n ? 0 : 1;
}
