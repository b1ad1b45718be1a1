/* Two 64-byte blocks pointing at each other, no pointer from outside:
 * one definitely lost (the clique leader, the lower address), the other
 * indirectly lost. */
#include "leak_common.h"

struct pair {
	struct pair *other;
	char pad[56];
};

static NOINLINE void make_cycle(void)
{
	struct pair *volatile a = alloc(sizeof(struct pair));
	struct pair *volatile b = alloc(sizeof(struct pair));
	a->other = b;
	b->other = a;
	a = b = NULL;
	(void)a;
	(void)b;
}

int main(void)
{
	make_cycle();
	return 0;
}
