/* cxx_plugin_host.c — a C program (python, perl and nginx are such hosts)
 * that loads a C++ plugin, which throws exceptions.  The unwinder that
 * runs them must be the one the program would get without the profiler:
 * libgcc_s's.  libunwind, which the profiler loads, defines the same
 * _Unwind_* interface; loaded before libgcc_s it used to win, and every
 * exception of the plugin went through libunwind's implementation (which,
 * for one, knows nothing of frames registered with __register_frame).
 *
 * Usage: cxx_plugin_host PLUGIN
 *   dlopens PLUGIN (libcxxplug.so), calls plug_run(1000), and prints which
 *   object defines the _Unwind_RaiseException the plugin's references bind
 *   to (plug_unwinder).
 * Output: "caught 500\n_Unwind_RaiseException in libgcc_s.so.1\n".
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	int (*run)(int) = (int (*)(int))dlsym(h, "plug_run");
	void *(*unwinder)(void) = (void *(*)(void))dlsym(h, "plug_unwinder");
	if (!run || !unwinder)
		return 1;
	printf("caught %d\n", run(1000));
	Dl_info info;
	void *raise = unwinder();
	if (!raise || !dladdr(raise, &info) || !info.dli_fname)
		return 1;
	const char *base = strrchr(info.dli_fname, '/');
	printf("_Unwind_RaiseException in %s\n", base ? base + 1 : info.dli_fname);
	return 0;
}
