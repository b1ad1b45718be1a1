/* uexit.c — a program that ends with _exit(0): no atexit handlers, no
 * destructors, yet heapline must still finish its trace (END reason
 * "_exit") because it interposes _exit.  With the argument "quick" it ends
 * with quick_exit(5) instead, whose at_quick_exit handler allocates 500
 * bytes and frees them: glibc's quick_exit calls _exit from inside, where
 * no wrapper sees it, so heapline interposes quick_exit itself (END reason
 * "quick_exit"), and the handler's two events, which come after it, are
 * still in the trace.
 *
 * Exact expected numbers:
 *   allocations 3, frees 1, bytes_allocated 6000 (1000 + 2000 + 3000)
 *   peak_bytes 6000, leaked_bytes 4000 (1000 + 3000) in 2 blocks
 *   end "_exit", exit status 0, output "uexit\n"
 * quick: allocations 4, frees 2, bytes_allocated 6500, peak_bytes 6000,
 *   leaked_bytes 4000 in 2 blocks, end "quick_exit", exit status 5,
 *   output "uexit\nhandler\n"
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile sink;

static void handler(void)
{
	sink = malloc(500);
	free(sink);
	if (write(1, "handler\n", 8) != 8)
		_exit(1);
}

int main(int argc, char **argv)
{
	int quick = argc > 1 && !strcmp(argv[1], "quick");
	if (quick && at_quick_exit(handler) != 0)
		return 1;
	void *a = malloc(1000);
	void *b = malloc(2000);
	void *c = malloc(3000);   /* live 6000 = peak */
	free(b);                  /* live 4000 */
	sink = a;
	sink = c;
	if (write(1, "uexit\n", 6) != 6)
		_exit(1);
	if (quick)
		quick_exit(5);
	_exit(0);
}
