/* symbolize_fixture_lib.c — fixture of test_symbolize: a shared library built
 * with -g -O1 whose malloc calls sit on known lines, one in a plain function
 * and one in an always-inlined helper.  AT(i, call) stores the line it is on
 * in hl_fix_line[i] as the call runs; function bounds are enums around each
 * body.  Nothing here states a line number. */
#include <stdlib.h>

#include "symbolize_fixture.h"

#define AT(i, call) (hl_fix_line[i] = __LINE__, (call))

void *volatile hl_fix_sink; /* keeps calls from becoming tail calls */

enum { HELPER_FIRST = __LINE__ + 1 };
static inline __attribute__((always_inline)) void *fix_helper(size_t n)
{
	void *p = AT(HL_FIX_HELPER_MALLOC, malloc(n));

	hl_fix_sink = p;
	return p;
}
enum { HELPER_LAST = __LINE__ - 1 };

enum { DIRECT_FIRST = __LINE__ + 1 };
__attribute__((noinline)) void *hl_fix_direct(size_t n)
{
	void *p = AT(HL_FIX_DIRECT_MALLOC, malloc(n));

	hl_fix_sink = p;
	return p;
}
enum { DIRECT_LAST = __LINE__ - 1 };

enum { INLINED_FIRST = __LINE__ + 1 };
__attribute__((noinline)) void *hl_fix_inlined(size_t n)
{
	void *p = AT(HL_FIX_INLINED_CALL, fix_helper(n + 1));

	hl_fix_sink = (char *)p + 1;
	return p;
}
enum { INLINED_LAST = __LINE__ - 1 };

int hl_fix_line[HL_FIX_NLINES] = {
    [HL_FIX_DIRECT_FIRST] = DIRECT_FIRST,   [HL_FIX_DIRECT_LAST] = DIRECT_LAST,
    [HL_FIX_HELPER_FIRST] = HELPER_FIRST,   [HL_FIX_HELPER_LAST] = HELPER_LAST,
    [HL_FIX_INLINED_FIRST] = INLINED_FIRST, [HL_FIX_INLINED_LAST] = INLINED_LAST,
};
