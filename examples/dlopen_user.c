/* dlopen_user.c — allocations made by a dlopen'ed library: in its
 * constructor, in a function the program calls, and frees in its destructor
 * at dlclose; the library is loaded, used, unloaded, and loaded again.  The
 * block dl_work() returned is freed by the program after the library that
 * allocated it has been unloaded.
 *
 * Usage: dlopen_user LIBDLALLOC.so  (run once with DLALLOC_QUIET=1 in the
 * environment: the library then allocates nothing, giving the base, i.e. what
 * dlopen/dlsym/dlclose allocate inside glibc, which varies with its version)
 *
 * Exact expected numbers, over the DLALLOC_QUIET run (the base):
 *   allocations = base + 8   (per load: 111, 222, 333, 444)
 *   frees       = base + 6   (per load: 111 by the destructor, 333 inside
 *                             dl_work, 444 by main)
 *   bytes_allocated = base + 2220, leaked = base + 444 bytes in 2 more
 *   blocks (the two 222-byte constructor blocks)
 *   unknown_frees 0, end "exit", exit status 0, output "dlopen_user done\n"
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *use_once(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return (void *)-1;
	void *(*work)(void) = (void *(*)(void))dlsym(h, "dl_work");
	if (!work)
		return (void *)-1;
	void *r = work();
	if (dlclose(h))
		return (void *)-1;
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	void *r1 = use_once(argv[1]);
	void *r2 = use_once(argv[1]);
	if (r1 == (void *)-1 || r2 == (void *)-1) {
		const char *e = dlerror();
		if (!e)
			e = "dlopen_user: dlopen failed";
		(void)!write(2, e, strlen(e));
		(void)!write(2, "\n", 1);
		return 1;
	}
	free(r1); /* allocated by a library that is no longer loaded */
	free(r2);
	return write(1, "dlopen_user done\n", 17) == 17 ? 0 : 1;
}
