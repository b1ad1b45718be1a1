/* crasher.c — a program that dies of a signal no heapline hook sees coming,
 * within its first milliseconds: "double-free" frees a block twice, and
 * glibc aborts from inside free (SIGABRT, through no interposable call);
 * "segv" writes through a null pointer (SIGSEGV).  Its trace never gets a
 * first block (heapline writes one every 50 ms), and `heapline run` must
 * say so rather than nothing.
 *
 * Expected: exit status 134 or 139, no trace, and heapline run's line
 * "pid N (...) died of signal 6 (SIGABRT) and left no trace".  Under sh -c
 * 'exec crasher ...' the shell's trace (END "exec") gets ", then its next
 * image died of signal ...". */
#include <stdlib.h>
#include <string.h>

static char *volatile sink;

int main(int argc, char **argv)
{
	sink = malloc(64);
	for (int i = 0; i < 100; i++)
		free(malloc((size_t)i + 1));
	if (argc > 1 && !strcmp(argv[1], "double-free")) {
		free(sink);
		free(sink);
	} else if (argc > 1 && !strcmp(argv[1], "segv")) {
		sink = NULL;
		*sink = 1;
	}
	return 0;
}
