/* A 300-byte block held only through a pointer 40 bytes into it, and a
 * 16-byte block it points to: both possibly lost (316 bytes in 2 blocks). */
#include "leak_common.h"

char *interior;

static NOINLINE void keep_interior(void)
{
	void **block = alloc(300);
	block[0] = alloc(16);
	interior = (char *)block + 40;
}

int main(void)
{
	keep_interior();
	return 0;
}
