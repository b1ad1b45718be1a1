/* killme.c — allocates, says "ready\n" on stdout, then sleeps until it is
 * killed.  The test SIGKILLs it: no END record is written, and the trace
 * must still read (the writer flushes a block at least every 50 ms while
 * events wait), possibly with a truncation warning, exit status 0.
 *
 * Expected numbers, all done before "ready":
 *   allocations >= 1000 (1000 mallocs of 64 bytes), frees >= 500 (every
 *   other one freed), bytes_allocated >= 64000, end null (no end record)
 */
#include <stdlib.h>
#include <unistd.h>

#define N 1000

static void *blocks[N];

int main(void)
{
	for (int i = 0; i < N; i++)
		blocks[i] = malloc(64);
	for (int i = 0; i < N; i += 2)
		free(blocks[i]);
	if (write(1, "ready\n", 6) != 6)
		return 1;
	for (;;)
		pause();
}
