/* fd_numbers.c — the program's descriptors stay its own: the numbers it
 * gets are those of a plain run, and the profiler reads and writes nothing
 * through them.
 *
 * Why: libunwind, which the unwinder falls back on for stacks through a
 * signal frame, checks an address it is unsure of by writing a byte of it
 * into a pipe of its own and reading it back, and makes a new pipe when a
 * read fails.  At the lowest free numbers (3 and 4) that pipe was the
 * program's business: a shell-style `exec 3<file` fed libunwind's reads
 * from the program's file, and after a daemon-style close of every
 * descriptor, libunwind closed the files the program had opened since.
 *
 * Usage: fd_numbers DIR
 *   1. opens /dev/null and prints "first fd N" (3 in a plain run), closes it;
 *   2. puts DIR/in.0 (1000 bytes, made here) on descriptor 3 and
 *      DIR/out.0 on descriptor 4 with dup2, as a shell's redirections do;
 *   3. 200 times: raises SIGUSR1, whose handler mallocs and frees 64 bytes
 *      (its stack goes through the signal frame), reads 5 bytes from 3 and
 *      writes them to 4;
 *   4. closes descriptors 3..1023, as daemons do; opens DIR/in.1 and
 *      DIR/out.1, which take 3 and 4 again; step 3 once more.
 * Output: "first fd 3", then for each round "round K: read 1000 bytes,
 * wrote 1000" and "done".  Allocations: the handler's 400, all freed.  A read that does not return what the file holds
 * at that offset, or a write that fails, ends the program with status 1
 * and says where.  Expected: DIR/out.K equal to DIR/in.K.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile sink;

/* Output through write(2): stdio's buffer would be an allocation of its own. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && write(1, line, (size_t)n) != n)
		exit(1);
}

static void on_usr1(int sig)
{
	(void)sig;
	sink = malloc(64);
	free(sink);
}

static int make_input(const char *path, char *content, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		content[i] = (char)('a' + (i * 7 + (size_t)seed) % 26);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, content, n) != (ssize_t)n || close(fd))
		return -1;
	return 0;
}

/* One round on descriptors 3 (in) and 4 (out). */
static int round_trip(int k, const char *content)
{
	size_t got = 0, put = 0;
	for (int i = 0; i < 200; i++) {
		char buf[5];
		raise(SIGUSR1);
		ssize_t r = read(3, buf, sizeof(buf));
		if (r != (ssize_t)sizeof(buf) || memcmp(buf, content + got, sizeof(buf))) {
			say("round %d: read %zd bytes at offset %zu, not the file's\n", k, r, got);
			return -1;
		}
		got += (size_t)r;
		if (write(4, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			say("round %d: write at offset %zu failed\n", k, put);
			return -1;
		}
		put += sizeof(buf);
	}
	say("round %d: read %zu bytes, wrote %zu\n", k, got, put);
	return 0;
}

static int on_3_and_4(const char *dir, int k, char *content)
{
	char in[4096], out[4096];
	snprintf(in, sizeof(in), "%s/in.%d", dir, k);
	snprintf(out, sizeof(out), "%s/out.%d", dir, k);
	if (make_input(in, content, 1000, k))
		return -1;
	int a = open(in, O_RDONLY), b = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (a < 0 || b < 0)
		return -1;
	if (a != 3 && (dup2(a, 3) != 3 || close(a)))
		return -1;
	if (b != 4 && (dup2(b, 4) != 4 || close(b)))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static char content[1000];
	if (argc != 2)
		return 2;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	int fd = open("/dev/null", O_RDONLY);
	say("first fd %d\n", fd);
	close(fd);

	if (on_3_and_4(argv[1], 0, content) || round_trip(0, content))
		return 1;
	for (fd = 3; fd < 1024; fd++)
		close(fd);
	/* Nothing open past 2 now: the files take 3 and 4 by themselves. */
	if (on_3_and_4(argv[1], 1, content) || round_trip(1, content))
		return 1;
	close(3);
	close(4);
	say("done\n");
	return 0;
}
