/* A list whose head pointer is dropped: the head (48 bytes) definitely
 * lost, its four 24-byte nodes indirectly lost. */
#include "leak_common.h"

struct node {
	struct node *next;
	char pad[16];
};

struct head {
	struct node *first;
	char pad[40];
};

static NOINLINE void build_and_lose(void)
{
	struct head *volatile h = alloc(sizeof(struct head));
	for (int i = 0; i < 4; i++) {
		struct node *n = alloc(sizeof(struct node));
		n->next = h->first;
		h->first = n;
	}
	h = NULL;
	(void)h;
}

int main(void)
{
	build_and_lose();
	return 0;
}
