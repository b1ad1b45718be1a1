/* libdlalloc.c — the library dlopen_user loads: allocates in its
 * constructor (and frees part of it in its destructor, run by dlclose) and
 * in dl_work().  With DLALLOC_QUIET set in the environment it allocates
 * nothing, so that a run measures what dlopen itself costs.
 *
 * Per load (dlopen ... dlclose):
 *   constructor  malloc(111) freed by the destructor, malloc(222) never freed
 *   dl_work()    malloc(333) freed inside, returns malloc(444) to the caller
 */
#include <stdlib.h>

static void *ctor_block;
void *dlalloc_leak; /* exported: the 222-byte block stays reachable */
static int quiet;

__attribute__((constructor)) static void dlalloc_init(void)
{
	quiet = getenv("DLALLOC_QUIET") != NULL;
	if (quiet)
		return;
	ctor_block = malloc(111);
	dlalloc_leak = malloc(222);
}

__attribute__((destructor)) static void dlalloc_fini(void)
{
	free(ctor_block); /* free(NULL) when quiet: not counted */
}

void *dl_work(void)
{
	if (quiet)
		return NULL;
	char *volatile tmp = malloc(333);
	tmp[0] = 0;
	free(tmp);
	return malloc(444);
}
