/* symbolize_fixture_nodebug.c — fixture of test_symbolize: a shared library
 * built with -g0 (symbol table, no DWARF) and dlopen'd by the test, whose
 * allocation site must resolve to "hl_fixnd_alloc+0xN". */
#include <stdlib.h>

#include "symbolize_fixture.h"

void *volatile hl_fixnd_sink;

void *hl_fixnd_alloc(size_t n)
{
	void *p = malloc(n);

	hl_fixnd_sink = p;
	return p;
}
