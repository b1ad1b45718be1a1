/* symbolize_fixture_lto_a.c — with symbolize_fixture_lto_b.c, a fixture of
 * test_symbolize built with -flto: hl_fixlto_outer calls a helper defined
 * in the other file, which link-time optimization inlines.  The inlined
 * call's abstract definition then lives in the other file's unit (a
 * DW_FORM_ref_addr), where libdw's dwarf_getscopes finds no scope at all:
 * the symbolizer must still give helper, then hl_fixlto_outer at the call.
 * The same holds for every call inlined across Rust's crates. */
#include <stddef.h>

#include "symbolize_fixture.h"

void *fixlto_helper(size_t n);

void *volatile hl_fixlto_sink; /* keeps calls from becoming tail calls */

__attribute__((noinline)) void *hl_fixlto_outer(size_t n)
{
	void *p = (hl_fixlto_line[HL_FIXLTO_CALL] = __LINE__, fixlto_helper(n + 1));

	hl_fixlto_sink = (char *)p + 1;
	return p;
}
