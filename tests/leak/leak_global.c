/* A 200-byte block held by a global, and a 32-byte block held by it:
 * both still reachable (232 bytes in 2 blocks). */
#include "leak_common.h"

struct holder {
	void *child;
	char pad[192];
};

struct holder *global_holder;

static NOINLINE void keep(void)
{
	global_holder = alloc(sizeof(struct holder));
	global_holder->child = alloc(32);
}

int main(void)
{
	keep();
	return 0;
}
