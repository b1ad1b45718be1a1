/* leak_common.h — a helper for the leak-class test programs: an allocation
 * the compiler cannot drop (it would, for a result that looks unused). */
#ifndef LEAK_COMMON_H
#define LEAK_COMMON_H

#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

/* malloc whose result the optimiser cannot see through */
static NOINLINE __attribute__((unused)) void *alloc(size_t n)
{
	void *volatile p = malloc(n);
	memset(p, 0, n);
	return p;
}

#endif
