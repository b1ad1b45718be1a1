/* libearly.c — a library linked into early_ctor whose constructor
 * allocates.  The dynamic loader runs it before libheapline.so's own
 * constructor, so these are the first allocator calls of the process: the
 * hook sees them first and must record them like any other.
 *   constructor: malloc(12345), malloc(54321), both handed to main to free
 */
#include <stdlib.h>

void *early_a, *early_b;

__attribute__((constructor)) static void early_init(void)
{
	early_a = malloc(12345);
	early_b = malloc(54321);
}
