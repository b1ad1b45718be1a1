/* report_views_fixture.c — a program with an exactly known allocation
 * profile for test_report_views.py (built -g -O0).  The test finds lines by
 * their @marker comments, so edits that move lines do not break it.
 *
 *   build(4)       15 nodes of 64 bytes, recursively: through the left-call
 *                  line 11 of them, through the right-call line 11 (a line
 *                  counts once per allocation however deep the recursion)
 *   destroy(tree)  frees all 15 (-960 bytes)
 *   temporaries(7) 7 blocks of 100..106 bytes, each freed at once: 7
 *                  temporaries, 721 bytes
 *   grab(3000)     inlined into main; never freed: 3000 bytes leaked
 * No stdio: nothing else allocates.  Histogram: 22 calls in [64, 128),
 * 1 in [2048, 4096). */
#include <stdlib.h>
#include <unistd.h>

struct node {
	struct node *l, *r;
	char pad[48];
};

static struct node *build(int depth)
{
	struct node *n;

	if (!depth)
		return NULL;
	n = malloc(sizeof(*n)); /* @build_alloc */
	n->l = build(depth - 1); /* @build_left */
	n->r = build(depth - 1); /* @build_right */
	return n;
}

static void destroy(struct node *n)
{
	if (!n)
		return;
	destroy(n->l);
	destroy(n->r);
	free(n); /* @destroy_free */
}

static void temporaries(int count)
{
	for (int i = 0; i < count; i++) {
		volatile char *p = malloc(100 + i); /* @temp_alloc */
		p[0] = 1;
		free((void *)p); /* @temp_free */
	}
}

static inline __attribute__((always_inline)) char *grab(size_t n)
{
	return malloc(n); /* @grab */
}

static char *volatile keep;

int main(void)
{
	struct node *tree = build(4); /* @main_build */

	destroy(tree); /* @main_destroy */
	temporaries(7); /* @main_temps */
	keep = grab(3000); /* @main_leak */
	return write(1, "", 0) == 0 ? 0 : 1;
}
