/* leak_gate MODE [N]: the program the gating tests run under heapline check.
 *   clean      allocate and free; print a line on stdout and on stderr
 *   leak       lose 1000 bytes (in lose)
 *   fail       lose 100 bytes, exit 3
 *   peak N     allocate N bytes, touch them, free them
 *   many       lose 15 blocks (1000..1014 bytes) from 15 call sites
 *   child      fork; the child loses 123 bytes
 *   supp       lose 64 bytes in leak_suppress_me, 32 in leak_keep_me
 * Built with -fno-optimize-sibling-calls so every function keeps its frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE void lose(size_t n)
{
	void *volatile p = malloc(n);
	memset(p, 0, n);
	p = NULL;
	(void)p;
}

NOINLINE void leak_suppress_me(void)
{
	lose(64);
}

NOINLINE void leak_keep_me(void)
{
	lose(32);
}

#define SITE(i)                                                                                    \
	static NOINLINE void site##i(void)                                                         \
	{                                                                                          \
		void *volatile p = malloc(1000 + i);                                               \
		memset(p, 0, 1000 + i);                                                            \
		p = NULL;                                                                          \
		(void)p;                                                                           \
	}
SITE(0)
SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7) SITE(8) SITE(9) SITE(10) SITE(11) SITE(12)
    SITE(13) SITE(14)

	int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "clean";

	if (!strcmp(mode, "clean")) {
		char *volatile p = malloc(4096);
		memset(p, 1, 4096);
		free(p);
		printf("gate stdout\n");
		fprintf(stderr, "gate stderr\n");
	} else if (!strcmp(mode, "leak")) {
		lose(1000);
	} else if (!strcmp(mode, "fail")) {
		lose(100);
		return 3;
	} else if (!strcmp(mode, "peak")) {
		size_t n = argc > 2 ? strtoul(argv[2], NULL, 0) : 1 << 20;
		char *volatile p = malloc(n);
		memset(p, 1, n);
		free(p);
	} else if (!strcmp(mode, "many")) {
		site0(), site1(), site2(), site3(), site4(), site5(), site6(), site7();
		site8(), site9(), site10(), site11(), site12(), site13(), site14();
	} else if (!strcmp(mode, "child")) {
		pid_t pid = fork();
		if (pid == 0) {
			lose(123);
			return 0;
		}
		waitpid(pid, NULL, 0);
	} else if (!strcmp(mode, "supp")) {
		leak_suppress_me();
		leak_keep_me();
	} else {
		fprintf(stderr, "leak_gate: unknown mode %s\n", mode);
		return 2;
	}
	return 0;
}
