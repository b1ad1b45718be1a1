/* phdr_callback.c — a program that allocates a lot inside a
 * dl_iterate_phdr callback, in code of a library it dlopen'ed just before.
 * glibc holds the loader's lock for the whole callback.  A profiler whose
 * background thread takes that lock to learn about the new library (as
 * heapline's writer did) stops draining; once its buffer is full, the
 * program waits for it, and neither ever moves again.
 *
 * Usage: phdr_callback LIBDLALLOC.so N
 *   dlopen the library, call its dl_work() N times from inside the first
 *   dl_iterate_phdr callback (each: malloc(333) freed inside, malloc(444)
 *   returned and freed here), then dlclose it.
 * Exact expected numbers: allocations = 2 + 2 N (the library's constructor
 * allocates 111 and 222 bytes) over what glibc's dlopen/dlclose allocate,
 * frees = 1 + 2 N over the same, leaked over the same: the 222 bytes;
 * exit status 0, output "phdr_callback done\n".  With a small ring
 * (HEAPLINE_RING_KIB=64) an N of 20000 fills it many times.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <unistd.h>

static void *(*work)(void);
static long calls;

static int each_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)info;
	(void)size;
	int *once = arg;
	if (*once)
		return 0;
	*once = 1;
	for (long i = 0; i < calls; i++)
		free(work());
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	calls = atol(argv[2]);
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return 1;
	work = (void *(*)(void))dlsym(h, "dl_work");
	if (!work)
		return 1;
	int once = 0;
	dl_iterate_phdr(each_module, &once);
	if (dlclose(h))
		return 1;
	if (write(1, "phdr_callback done\n", 19) != 19)
		return 1;
	return 0;
}
