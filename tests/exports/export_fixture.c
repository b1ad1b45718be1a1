/* export_fixture.c — a program with an exactly known allocation profile for
 * the exports of `heapline report` (tests/exports/test_exports.py; built
 * -g -O0).  No stdio: nothing else allocates.
 *
 *   make_list(200)  200 nodes of 1000 bytes through node_new, which is
 *                   always inlined into make_list (an inlined frame)
 *   tiny()          3 x 100 bytes from three lines, each under 1% of the
 *                   heap from then on (massif's "in 3 places" line), freed
 *                   at the end
 *   spike()         1 MiB, freed 30 ms later: the peak is the list, the
 *                   tiny blocks and it
 *   main            frees every other node; the other 100 leak
 * Sleeps between the phases give massif's time axis some width. */
#include <stdlib.h>
#include <time.h>

#define NODES	   200
#define NODE_BYTES 1000
#define SPIKE	   (1 << 20)

struct node {
	struct node *next;
	char pad[NODE_BYTES - sizeof(struct node *)];
};

static void nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static inline __attribute__((always_inline)) struct node *node_new(struct node *next)
{
	struct node *n = malloc(sizeof(*n)); /* @node_new */

	n->next = next;
	return n;
}

static struct node *make_list(int count)
{
	struct node *head = NULL;

	for (int i = 0; i < count; i++) {
		head = node_new(head); /* @make_list */
		if (i % 50 == 49)
			nap(10);
	}
	return head;
}

static char *volatile tiny_a, *volatile tiny_b, *volatile tiny_c;

static void tiny(void)
{
	tiny_a = malloc(100); /* @tiny_a */
	tiny_b = malloc(100); /* @tiny_b */
	tiny_c = malloc(100); /* @tiny_c */
}

static void spike(void)
{
	volatile char *p = malloc(SPIKE); /* @spike */

	p[0] = 1;
	nap(30);
	free((void *)p);
}

static struct node *volatile keep;

int main(void)
{
	struct node *list = make_list(NODES); /* @main_list */

	tiny();	 /* @main_tiny */
	spike(); /* @main_spike */
	nap(20);
	/* free every other node; the rest stay reachable through keep */
	for (struct node *n = list; n && n->next; n = n->next) {
		struct node *dead = n->next;
		n->next = dead->next;
		free(dead);
	}
	keep = list;
	free(tiny_a);
	free(tiny_b);
	free(tiny_c);
	nap(10);
	return 0;
}
