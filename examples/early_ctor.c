/* early_ctor.c — allocations made before libheapline.so's constructor
 * runs: libearly.so (linked in, so initialised before the preloaded
 * library) allocates two blocks in its constructor; main frees them.  The
 * same happens in every C++ program (libstdc++'s emergency EH pool).
 *
 * Exact expected numbers (valgrind agrees: "2 allocs, 2 frees, 66,666 bytes"):
 *   allocations 2, frees 2, bytes_allocated 66666 (12345 + 54321)
 *   peak_bytes 66666, leaked 0, unknown_frees 0, end "exit", exit status 0
 */
#include <stdlib.h>
#include <unistd.h>

extern void *early_a, *early_b;

int main(void)
{
	free(early_a);
	free(early_b);
	return write(1, "early_ctor done\n", 16) == 16 ? 0 : 1;
}
