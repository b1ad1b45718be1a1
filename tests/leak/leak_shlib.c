/* Memory allocated inside a shared library: 700 bytes held by the
 * library's global (still reachable), 800 bytes dropped (definitely lost). */
#include <stddef.h>

#include "leak_common.h"

void shlib_keep(size_t n);
void shlib_lose(size_t n);

int main(void)
{
	shlib_keep(700);
	shlib_lose(800);
	return 0;
}
