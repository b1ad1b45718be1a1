/* A block whose only pointer is dropped: 100 bytes definitely lost. */
#include "leak_common.h"

static NOINLINE void lose(void)
{
	void *volatile p = alloc(100);
	p = NULL;
	(void)p;
}

int main(void)
{
	lose();
	return 0;
}
