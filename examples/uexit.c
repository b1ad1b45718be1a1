/* uexit.c — a program that ends with _exit(0): no atexit handlers, no
 * destructors, yet heapline must still finish its trace (END reason
 * "_exit") because it interposes _exit.
 *
 * Exact expected numbers:
 *   allocations 3, frees 1, bytes_allocated 6000 (1000 + 2000 + 3000)
 *   peak_bytes 6000, leaked_bytes 4000 (1000 + 3000) in 2 blocks
 *   end "_exit", exit status 0, output "uexit\n"
 */
#include <stdlib.h>
#include <unistd.h>

static void *volatile sink;

int main(void)
{
	void *a = malloc(1000);
	void *b = malloc(2000);
	void *c = malloc(3000);   /* live 6000 = peak */
	free(b);                  /* live 4000 */
	sink = a;
	sink = c;
	if (write(1, "uexit\n", 6) != 6)
		_exit(1);
	_exit(0);
}
