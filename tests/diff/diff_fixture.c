/* diff_fixture.c — the program `heapline diff` is tested on
 * (tests/diff/test_diff.py), built twice: as is, and with -DMORE, which
 * allocates 3 MiB instead of 1 MiB at one line (@grow) and changes nothing
 * else.  Built -g -O0; no stdio, so nothing else allocates.
 *
 *   steady(100000)  kept until the end of main's work, the same in both
 *   grow()          1 MiB (MORE: 3 MiB), live at the peak, freed
 *   churn()         10 x 4096 bytes, each freed at once
 *   steady(1000)    leaked, the same in both
 * Peak: 100000 + 1 MiB + 4096 (MORE: + 3 MiB instead of 1). */
#include <stdlib.h>

#ifdef MORE
#define GROW_BYTES (3 << 20)
#else
#define GROW_BYTES (1 << 20)
#endif

static char *steady(size_t n)
{
	return malloc(n); /* @steady */
}

static char *grow(void)
{
	return malloc(GROW_BYTES); /* @grow */
}

static void churn(void)
{
	for (int i = 0; i < 10; i++) {
		volatile char *p = malloc(4096); /* @churn */
		p[0] = 1;
		free((void *)p);
	}
}

static char *volatile keep;

int main(void)
{
	char *a = steady(100000); /* @main_steady */
	char *b = grow();	  /* @main_grow */

	churn(); /* @main_churn */
	free(b);
	free(a);
	keep = steady(1000); /* @main_leak */
	return 0;
}
