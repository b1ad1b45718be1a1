/* own_malloc.c — a program whose executable defines malloc, free, calloc
 * and realloc itself (as rustc does with a statically linked jemalloc, or
 * Chromium with PartitionAlloc): the dynamic linker finds them before
 * heapline's, so its allocations never reach heapline, and the trace must
 * say so instead of passing "0 allocations" off as the truth.
 *
 * Here they count their calls and hand them to glibc's allocator.  Expected:
 * stdout "own malloc: 10 calls, 10 frees"; under heapline a trace with
 * own_malloc true and none of these allocations. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static size_t calls, frees;

void *malloc(size_t n)
{
	calls++;
	return __libc_malloc(n);
}

void free(void *p)
{
	if (p)
		frees++;
	__libc_free(p);
}

void *calloc(size_t n, size_t m)
{
	calls++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	calls++;
	return __libc_realloc(p, n);
}

int main(void)
{
	void *v[10];
	size_t before = calls, freed = frees;
	for (int i = 0; i < 10; i++)
		v[i] = malloc(100 + (size_t)i);
	for (int i = 0; i < 10; i++)
		free(v[i]);
	char line[64];
	int n = snprintf(line, sizeof(line), "own malloc: %zu calls, %zu frees\n", calls - before,
			 frees - freed);
	if (write(1, line, (size_t)n) != n)
		return 1;
	return 0;
}
