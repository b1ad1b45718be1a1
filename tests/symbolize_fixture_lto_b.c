/* symbolize_fixture_lto_b.c — the helper symbolize_fixture_lto_a.c's
 * function inlines at link time (hidden: its only caller is known). */
#include <stdlib.h>

#include "symbolize_fixture.h"

int hl_fixlto_line[HL_FIXLTO_NLINES];

__attribute__((visibility("hidden"))) void *fixlto_helper(size_t n)
{
	void *p = (hl_fixlto_line[HL_FIXLTO_MALLOC] = __LINE__, malloc(n));

	hl_fixlto_line[HL_FIXLTO_AFTER] = (int)n; /* work after the call */
	return p;
}
