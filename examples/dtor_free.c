/* dtor_free.c — memory released after main returns: a constructor
 * allocates a global block that a destructor frees, and an atexit handler
 * allocates and frees.  heapline must finish its trace after these run, so
 * nothing shows as leaked.
 *
 * Exact expected numbers:
 *   constructor  malloc(4096)                      (global block)
 *   main         malloc(100), free                 (and registers atexit)
 *   atexit       malloc(500), calloc(5, 100), both freed
 *   destructor   free(global block)
 *   allocations 4, frees 4, bytes_allocated 5196 (4096 + 100 + 500 + 500)
 *   peak_bytes 5096 (global + 500 + 500 in the atexit handler)
 *   leaked_bytes 0 in 0 blocks, end "exit", exit status 0
 * (glibc's atexit keeps the first 32 handlers in a static block: no malloc.)
 */
#include <stdlib.h>
#include <unistd.h>

static void *global_block;
static void *volatile sink;

__attribute__((constructor)) static void make_global(void)
{
	global_block = malloc(4096);
}

__attribute__((destructor)) static void free_global(void)
{
	free(global_block);
}

static void at_exit_work(void)
{
	void *p = malloc(500);
	void *q = calloc(5, 100);   /* live 4096 + 500 + 500 = 5096 = peak */
	sink = p;
	free(q);
	free(p);
}

int main(void)
{
	void *p = malloc(100);
	sink = p;
	free(p);
	if (atexit(at_exit_work))
		return 1;
	return write(1, "dtor_free\n", 10) == 10 ? 0 : 1;
}
