/* aborter.c — a program that ends with abort(): heapline interposes abort
 * and finishes its trace (END reason "abort") before SIGABRT kills the
 * process; `heapline run` exits 134 (128 + SIGABRT) like the program.
 *
 * Exact expected numbers:
 *   allocations 4, frees 2, bytes_allocated 1111 (1 + 10 + 100 + 1000)
 *   peak_bytes 1111, leaked_bytes 1010 (10 + 1000) in 2 blocks
 *   end "abort", exit status 134 (signal 6), output "aborter\n"
 *
 * Usage: aborter [assert]
 *   with "assert", a failed assert() aborts instead (from inside glibc,
 *   past the abort heapline interposes: its entry point __assert_fail is
 *   interposed too); the same numbers, and glibc's message on stderr.
 */
#undef NDEBUG
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile sink;

int main(int argc, char **argv)
{
	void *a = malloc(1);
	void *b = malloc(10);
	void *c = malloc(100);
	void *d = malloc(1000);   /* live 1111 = peak */
	free(a);
	free(c);                  /* live 1010 */
	sink = b;
	sink = d;
	if (write(1, "aborter\n", 8) != 8)
		return 1;
	assert(argc < 2 || strcmp(argv[1], "assert"));
	abort();
}
