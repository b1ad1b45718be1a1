/* libcancel.c — built twice (libcancela.so, libcancelb.so, BLOCK 100 and
 * 200) for cancel_in_hook: each a module the process has not allocated
 * from before the call. */
#include <stdlib.h>

void *cancel_alloc(void)
{
	return malloc(BLOCK);
}
