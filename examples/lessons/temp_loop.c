/* temp_loop.c — lesson: a buffer allocated and freed on every iteration of
 * a loop costs an allocator call pair per iteration for memory that could
 * have been allocated once.  The peak is the same; the call count is not.
 * heapline's temporaries view (heaptrack's definition: a block freed before
 * its thread allocates anything else) finds such loops: it shows exactly
 * the loop's iteration count at the loop's malloc line.
 *
 * Both functions format the numbers 0..999 as decimal text in a 128-byte
 * scratch line and return the lengths in an array of 1000 longs (8000 bytes)
 * that main frees.  per_iteration() mallocs and frees the line inside the
 * loop; reused() mallocs it once.  reused() allocates its scratch line
 * before its result array so that the line is not itself a temporary (the
 * array's malloc comes between the line's malloc and its free).
 *
 * Exact expected numbers (tests/lessons/expected/temp_loop.txt):
 *   per_iteration: lens malloc +8000 (live 8000); line malloc 1000 calls,
 *     +128000, Mem usage 8128; free(line) 1000 calls, -128000, Mem usage
 *     8000.
 *   reused: line malloc +128 (live 8000 + 128 = 8128); lens malloc +8000
 *     (live 16128); free(line) -128 (live 16000).  The loop: nothing.
 *   main: per_iteration() line +8000 in 2001 calls, Mem usage 8128;
 *     reused() line +8000 in 3 calls, Mem usage 16128; the two frees
 *     -8000 each (live 8000, then 0).
 *   temporary 1000 of 1003 allocations, 128000 bytes, all at the loop's
 *   malloc line.  allocations 1003, frees 1003, bytes_allocated 128000 +
 *   16128 = 144128, peak_bytes 16128, leaked 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define N    1000
#define LINE 128

/* Decimal text of i in line; returns its length. */
static long format(char *line, long i)
{
	return snprintf(line, LINE, "%ld", i);
}

static long *per_iteration(void)
{
	long *lens = malloc(N * sizeof *lens);
	if (!lens)
		abort();
	for (long i = 0; i < N; i++) {
		char *line = malloc(LINE);
		if (!line)
			abort();
		lens[i] = format(line, i);
		free(line);
	}
	return lens;
}

static long *reused(void)
{
	char *line = malloc(LINE);
	long *lens = malloc(N * sizeof *lens);
	if (!line || !lens)
		abort();
	for (long i = 0; i < N; i++)
		lens[i] = format(line, i);
	free(line);
	return lens;
}

int main(void)
{
	long digits = 0;
	char msg[64];

	long *a = per_iteration();
	long *b = reused();
	for (long i = 0; i < N; i++) {
		if (a[i] != b[i])
			return 1;
		digits += a[i];
	}
	free(a);
	free(b);
	int n = snprintf(msg, sizeof msg, "%ld digits\n", digits);
	return write(1, msg, (size_t)n) == n ? 0 : 1;
}
