/* mp_example.c — memory_profiler's README example in C (SPEC "The
 * line-by-line table"): make_lists() allocates 8 MiB, then 160 MiB, frees the
 * 160 MiB and returns the 8 MiB, which main keeps until exit (a leak, on
 * purpose: it is what the Python example's caller holds).
 *
 * Exact expected numbers:
 *   allocations 2, frees 1
 *   bytes_allocated 176160768 (168 MiB), peak_bytes 176160768 (168 MiB)
 *   leaked_bytes 8388608 (8 MiB) in 1 block, end "exit", exit status 0
 * Line table for make_lists: +8 MiB on the `a` line, +160 MiB on the `b`
 * line (mem usage 168 MiB), -160 MiB on free(b).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *volatile keep;

char *make_lists(void)
{
	char *a = malloc(8 << 20);
	char *b = malloc(160 << 20);
	memset(a, 1, 8 << 20);
	memset(b, 2, 160 << 20);
	free(b);
	return a;
}

int main(void)
{
	keep = make_lists();
	if (!keep)
		return 1;
	return write(1, "mp_example done\n", 16) == 16 ? 0 : 1;
}
