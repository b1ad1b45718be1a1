/* The shared library of leak_shlib: allocates inside itself. */
#include <stdlib.h>
#include <string.h>

void *shlib_kept; /* a global of the library: a root in its data segment */

__attribute__((noinline)) void shlib_keep(size_t n)
{
	shlib_kept = malloc(n);
	memset(shlib_kept, 0, n);
}

__attribute__((noinline)) void shlib_lose(size_t n)
{
	void *volatile p = malloc(n);
	memset(p, 0, n);
	p = NULL;
	(void)p;
}
