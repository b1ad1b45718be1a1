/* basic.c — every entry point of the malloc family once, in a fixed order,
 * so that the totals heapline reports can be checked to the byte.
 *
 * Teaches: how each call is counted (SPEC "The JSON summary", trace-format
 * "Replay semantics"): realloc that moves or resizes = 1 allocation + 1 free,
 * realloc(NULL, n) = 1 allocation, realloc(p, 0) = 1 free, free(NULL) and
 * failed calls count nothing, malloc(0) is an allocation of 0 bytes, sizes
 * are the requested ones (pvalloc(100) is 100, not a page).
 *
 * Exact expected numbers (also in tests/e2e/run_e2e.py):
 *   allocations      14
 *   frees            10
 *   bytes_allocated  1055586
 *   peak_bytes       1054186   (while `big` is live)
 *   leaked_bytes     5108      (c 300 + d 200 + f 512 + h 4096)
 *   leaked_blocks    4
 *   unknown_frees    0, end "exit", exit status 0
 * Output: "basic done\n" through write(2), so no stdio buffer is allocated.
 * `basic no-pvalloc` replaces pvalloc(100) by memalign(4096, 100) (same
 * counts) for valgrind, which aborts on pvalloc; valgrind then reports
 * "14 allocs, 10 frees, 1,055,586 bytes allocated".
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Volatile: the compiler may neither drop nor merge these calls. */
static void *volatile sink;
static volatile size_t huge = SIZE_MAX;

int main(int argc, char **argv)
{
	/* valgrind 3.19 aborts on pvalloc: "basic no-pvalloc" asks memalign
	 * for the same 100 bytes instead, so every count stays the same. */
	int no_pvalloc = argc > 1 && !strcmp(argv[1], "no-pvalloc");
	void *a, *b, *c, *d, *e, *f, *g, *h, *i, *z, *big;

	/* live after each line in the comment; A = allocations, F = frees */
	a = malloc(100);             /* A1  +100         live 100 */
	b = calloc(10, 20);          /* A2  +200         live 300 */
	a = realloc(a, 1000);        /* A3 F1 +1000-100  live 1200 (grow) */
	a = realloc(a, 50);          /* A4 F2 +50-1000   live 250 (shrink) */
	c = realloc(NULL, 300);      /* A5  +300         live 550 */
	sink = realloc(b, 0);        /* F3  -200         live 350 (glibc frees, returns NULL) */
	d = reallocarray(NULL, 4, 25); /* A6 +100        live 450 */
	d = reallocarray(d, 8, 25);  /* A7 F4 +200-100   live 550 */
	if (posix_memalign(&e, 64, 256)) /* A8 +256      live 806 */
		return 1;
	f = aligned_alloc(128, 512); /* A9  +512         live 1318 */
	g = memalign(32, 96);        /* A10 +96          live 1414 */
	h = valloc(4096);            /* A11 +4096        live 5510 */
	i = no_pvalloc ? memalign(4096, 100) : pvalloc(100); /* A12 +100 live 5610 */
	free(NULL);                  /* nothing */
	z = malloc(0);               /* A13 +0           live 5610 */
	big = malloc(1 << 20);       /* A14 +1048576     live 1054186 = peak */
	memset(big, 1, 1 << 20);
	free(big);                   /* F5               live 5610 */

	/* Failures count nothing; a failed realloc leaves `a` live. */
	sink = malloc(huge);                /* NULL */
	sink = calloc(huge / 2, 4);         /* overflow: NULL */
	void *volatile keep = a; /* hides the still-valid `a` from -Wuse-after-free */
	sink = realloc(keep, huge);         /* NULL, a still live */
	if (sink)
		return 1;

	free(a);                     /* F6  -50          live 5560 */
	free(e);                     /* F7  -256         live 5304 */
	free(g);                     /* F8  -96          live 5208 */
	free(z);                     /* F9  -0           live 5208 */
	free(i);                     /* F10 -100         live 5108 */

	sink = c; /* c, d, f, h stay allocated: 5108 bytes in 4 blocks leak */
	sink = d;
	sink = f;
	sink = h;
	if (write(1, "basic done\n", 11) != 11)
		return 1;
	return 0;
}
